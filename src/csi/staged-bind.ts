import { lstat, mkdir, rmdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SharemountError, invalidArgument } from '../errors.js';
import type { Logger } from '../logger.js';
import { mount, remountReadOnly, unmountPublication } from '../mount-command.js';
import { flagsOfMount, withCopiedFlags } from '../mount-flags.js';
import { mountAt, readMountInfoText } from '../mountinfo.js';
import type { ReadOnlyIntents } from './read-only-intents.js';
import { removeEmptyFile } from './block-volume.js';

/*
 * NodePublishVolume and NodeUnpublishVolume: a bind mount of the staged volume onto the pod's
 * target path, and its removal. The staging path holds sharemount's publication of the share
 * (NodeStageVolume); the target copies that mount, so it adds no reference of its own, and
 * kubelet unpublishes every target before it unstages.
 */

/** Mounts stacked on one target that an unpublish takes off, at most. */
const maxLayers = 8;

export type BindOutcome = 'published' | 'already-published' | 'made-read-only';

/**
 * Bind-mounts the mount at `staging` onto `target` (both canonical paths), read-only when
 * asked. Idempotent: a target that already shows the staged volume as asked is a success; one
 * that is writable when read-only is asked is made read-only only when `intents` says a
 * read-only publish of it was cut short between the bind and its `ro` step; anything else
 * mounted there (a writable publication made on purpose included) is ALREADY_EXISTS and left alone.
 */
export async function bindStaged(staging: string, target: string, readOnly: boolean, timeoutMs: number, intents: ReadOnlyIntents): Promise<BindOutcome> {
  const table = readMountInfoText();
  const staged = mountAt(table, staging);
  if (staged === undefined) {
    throw new SharemountError('FAILED_PRECONDITION', `staging_target_path: nothing is staged at ${staging}; NodeStageVolume must succeed first`, { field: 'staging_target_path' });
  }
  const copied = flagsOfMount(staged.mountOptions);
  // The mount table first: a lookup of a target that is a hung mount would block.
  const current = mountAt(table, target);
  if (current !== undefined) {
    if (current.device !== staged.device || current.root !== staged.root) {
      throw new SharemountError('ALREADY_EXISTS', `target_path: ${target} is already a mount point of something other than this volume`, { field: 'target_path' });
    }
    // A volume staged read-only gives read-only targets whatever a publish asks.
    const expectReadOnly = readOnly || copied.includes('ro');
    const isReadOnly = current.mountOptions.includes('ro');
    if (isReadOnly === expectReadOnly) {
      // Read-only: a publish cut short after its ro step. Writable: this publication is writable
      // on purpose, so no note of an earlier failed read-only attempt may ever make it read-only.
      await intents.clear(target);
      return 'already-published';
    }
    if (!expectReadOnly) {
      throw new SharemountError('ALREADY_EXISTS', `target_path: ${target} is published read-only; unpublish it before publishing it writable`, { field: 'target_path' });
    }
    if (!(await intents.has(target))) {
      throw new SharemountError('ALREADY_EXISTS', `target_path: ${target} is published writable; unpublish it before publishing it read-only`, { field: 'target_path' });
    }
    await remountReadOnly(target, timeoutMs, copied);
    await intents.clear(target);
    return 'made-read-only';
  }
  await prepareTargetDirectory(target);
  // util-linux makes `--bind -o ro` a bind then a remount that sets exactly the flags given:
  // the staged mount's own (nosuid, nodev...) are given again so the target keeps them.
  if (readOnly) await intents.note(target);
  else await intents.clear(target); // a note of a failed read-only attempt must not outlive this
  const options = readOnly ? withCopiedFlags(['ro'], copied) : [];
  try {
    // The caller holds the target's lock: the mount inherits it (see MountManager.withTargetLock).
    await mount({ bind: true, noCanonicalize: true, inheritLocks: true, source: staging, target, options }, timeoutMs);
  } catch (error) {
    // Nothing mounted: no publish to finish, and kubelet may never unpublish a failed target.
    if (readOnly && mountAt(readMountInfoText(), target) === undefined) await intents.clear(target);
    throw error;
  }
  if (readOnly) await intents.clear(target);
  return 'published';
}

/** The CO makes the target's parent; the plugin makes the target, a directory for a mount volume. */
async function prepareTargetDirectory(target: string): Promise<void> {
  try {
    const stats = await lstat(target);
    if (stats.isSymbolicLink()) throw invalidArgument('target_path', 'is a symlink; refusing to mount through it');
    if (!stats.isDirectory()) throw invalidArgument('target_path', 'exists and is not a directory');
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    await mkdir(target, { mode: 0o750 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return prepareTargetDirectory(target); // made meanwhile: check it again
    if (code === 'ENOENT') throw new SharemountError('NOT_FOUND', `target_path: its parent ${dirname(target)} does not exist (the CO creates it)`, { field: 'target_path' });
    throw error;
  }
}

/**
 * Unmounts the target (never forced: the staged share's other users would feel it) and removes
 * its directory. A target that is gone already is a success. A directory that is not a mount
 * point is removed only when empty: files there are someone's data, never deleted.
 */
export async function unbindTarget(target: string, timeoutMs: number, logger: Logger, intents: ReadOnlyIntents): Promise<{ unmounted: boolean }> {
  // The mount table first: a target on a broken or hung mount cannot be looked up (ENOTCONN,
  // or a lookup that never returns), and must still be unmounted.
  let mounted = false;
  for (let layer = 0; layer < maxLayers && mountAt(readMountInfoText(), target) !== undefined; layer++) {
    // A retry whose first attempt also got its mount made leaves two there: take them all off.
    await unmountPublication(target, timeoutMs, logger);
    mounted = true;
  }
  await intents.clear(target); // a read-only publish that never finished: its target is gone now
  let stats;
  try {
    stats = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { unmounted: mounted };
    throw error;
  }
  // A block volume's target: the empty file made to bind its device onto (block-volume.ts).
  if (stats.isFile() && stats.size === 0) return { unmounted: (await removeEmptyFile(target, 'target_path'), mounted) };
  if (!stats.isDirectory()) {
    throw new SharemountError('FAILED_PRECONDITION', `target_path: ${target} is not a directory this plugin made (a ${stats.isSymbolicLink() ? 'symlink' : 'file'}); left alone`, { field: 'target_path' });
  }
  try {
    await rmdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { unmounted: mounted };
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      throw new SharemountError('FAILED_PRECONDITION', `target_path: ${target} is not mounted and holds files; not deleting them`, { field: 'target_path' });
    }
    throw error;
  }
  return { unmounted: mounted };
}
