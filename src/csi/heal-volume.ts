import { isSharemountError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MountManager } from '../mount-manager.js';
import { unmountPublication } from '../mount-command.js';
import { mountAt, readMountInfoText, type MountInfoEntry } from '../mountinfo.js';
import { volumeStats } from '../volume-stats.js';
import { canonicalTarget } from '../target.js';
import { pathShowing } from './volumes-at.js';

/*
 * The CSI side of healing (docs/healing.md). A volume's staging path holds sharemount's
 * publication of its share: healing the share (a reconcile of it) makes the staging path show
 * the fresh mount again. A target that NodePublishVolume bound from the staging path before the
 * heal is a copy of the broken mount, which nothing on the node changes by itself: it is bound
 * again from the staging path by NodePublishVolume (kubelet calls it again periodically when the
 * CSIDriver says `requiresRepublish: true`) and by NodeGetVolumeStats.
 */

/** Heals the share behind the staging path when it is broken; whether it healed it. */
export async function healStaged(manager: Pick<MountManager, 'publicationAt' | 'reconcile'>, staging: string): Promise<boolean> {
  const publication = await manager.publicationAt(staging);
  if (publication === undefined) return false;
  const report = await manager.reconcile({ share: publication.shareKey });
  return report.healedShares.length > 0;
}

/**
 * Whether `current` (the mount at a target) is an earlier copy of the staged mount whose
 * filesystem is dead: the same kind of filesystem, source and directory as `staged`, another
 * filesystem instance (device), and the target answers with a broken-mount error (asked by a
 * child process: a hung mount is never looked up here). A lookup that met the dead mount may
 * have unhashed the directory: the kernel then shows its root with `//deleted` after it.
 */
export async function isBrokenCopy(current: MountInfoEntry, staged: MountInfoEntry, target: string, timeoutMs: number): Promise<boolean> {
  if (current.device === staged.device) return false;
  if (current.fsType !== staged.fsType || current.source !== staged.source || current.root.replace(/\/\/deleted$/, '') !== staged.root) return false;
  try {
    await volumeStats(target, timeoutMs);
    return false;
  } catch (error) {
    return isSharemountError(error, 'BROKEN_MOUNT');
  }
}

/** Mounts stacked on one target that are taken off, at most. */
const maxLayers = 8;

/**
 * Takes off the target's broken copies of the staged mount (a retry's may be stacked on
 * another); whether there were any. The caller binds the staged mount there again.
 */
export async function detachBrokenCopies(staging: string, target: string, timeoutMs: number, logger: Logger): Promise<boolean> {
  let detached = false;
  for (let layer = 0; layer < maxLayers; layer++) {
    const table = readMountInfoText();
    const staged = mountAt(table, staging);
    const current = mountAt(table, target);
    if (staged === undefined || current === undefined || !(await isBrokenCopy(current, staged, target, timeoutMs))) break;
    await unmountPublication(target, timeoutMs, logger);
    detached = true;
  }
  if (detached) logger.warn({ staging, target }, 'the target showed the volume as it was before its share healed: bound again');
  return detached;
}

/**
 * NodeGetVolumeStats' repair of a broken volume: heals the share behind `staging` (the volume's
 * staging path: the path asked about itself, or the one the request names), then binds the
 * path again when it is a target that still shows the broken mount, read-only when it was.
 * Whether anything was repaired (the caller then asks the path again).
 */
export async function healVolumePath(
  manager: Pick<MountManager, 'publicationAt' | 'reconcile'>,
  path: string,
  staging: string | undefined,
  rebind: (staging: string, target: string, readOnly: boolean) => Promise<unknown>,
  timeoutMs: number,
  logger: Logger,
): Promise<boolean> {
  const stagingPath = (await manager.publicationAt(path)) !== undefined ? path : staging;
  if (stagingPath === undefined) return false;
  const healed = await healStaged(manager, stagingPath);
  if (stagingPath === path) return healed;
  const readOnly = mountAt(readMountInfoText(), path)?.mountOptions.includes('ro') ?? false;
  if (!(await detachBrokenCopies(stagingPath, path, timeoutMs, logger))) return healed;
  await rebind(stagingPath, path, readOnly);
  return true;
}

/**
 * `path`, canonical, when it is a target still showing the volume staged at `staging` as it
 * was before its share healed (a broken copy): the mount table no longer ties it to the
 * volume's publication, but the staging path does. Undefined otherwise.
 */
export async function brokenCopyOfStaged(manager: Pick<MountManager, 'publicationAt'>, volumeId: string, path: string, staging: string, timeoutMs: number): Promise<string | undefined> {
  const stagingPath = await pathShowing(manager, volumeId, staging).catch(() => undefined);
  const target = path.startsWith('/') ? canonicalTarget(path) : undefined;
  if (stagingPath === undefined || target === undefined) return undefined;
  const table = readMountInfoText();
  const staged = mountAt(table, stagingPath);
  const current = mountAt(table, target);
  return staged !== undefined && current !== undefined && (await isBrokenCopy(current, staged, target, timeoutMs)) ? target : undefined;
}
