import { lstat, statfs } from 'node:fs/promises';
import { posix } from 'node:path';
import type { AnyBackend, Source } from './backend.js';
import { SharemountError } from './errors.js';
import { HealJournals, type HealJournal } from './heal-journal.js';
import { withHostDirectory } from './host-directory.js';
import type { HungShares } from './hung-shares.js';
import type { Logger } from './logger.js';
import type { Timeouts } from './manager-options.js';
import { detachMounts, mount, unmount } from './mount-command.js';
import { flagsAtMountPoint } from './mount-flags.js';
import { mountAt, parseMountInfo, readMountInfoText, topMounts, type MountInfoEntry } from './mountinfo.js';
import type { OptionList } from './options.js';
import type { ShareKey } from './share-key.js';
import { shareHealth } from './share-health.js';
import type { RefRecord, StateStore } from './state.js';
import { bindStrategy } from './strategies/bind.js';
import { openInsideShare, type OpenedSubPath } from './subpath.js';
import { withTimeout } from './timeout.js';

/** What healing needs of the manager. */
export interface HealDeps {
  root: string;
  state: StateStore;
  backends: ReadonlyMap<string, AnyBackend>;
  timeouts: Timeouts;
  logger: Logger;
  hungShares: HungShares;
}

export type HealOutcome =
  /** Nothing to heal: the share answers (or is not mounted: reconcile's business) and no heal was cut short. */
  | { status: 'answering' }
  /** The share does not answer at all: left alone (docs/healing.md says why). */
  | { status: 'hung'; message: string }
  | { status: 'healed'; republished: string[]; dropped: string[]; problems: string[] }
  /** Nothing could be healed now (the source still does not answer, its secrets are not at hand); a later attempt tries again. */
  | { status: 'failed'; message: string };

/** Publications made again at once, each a mount(8) of its own. */
const bindConcurrency = 4;

/**
 * Heals the share `key` when its mount is broken (its root answers ENOTCONN, ESTALE, EIO...), or
 * finishes a heal that a crash cut short; the caller holds the share's lock. The source is
 * mounted again, fresh, beside the broken mount with the share's own options (and
 * `sensitiveOptions`, which are never stored: a share that has some heals only from a publish,
 * which brings them); only once that fresh mount answers does it replace the broken one at the
 * share's mount point, and every bind publication of the share is detached and bound again at
 * its target from it, with the same sub-path checks and read-only state. References stay as
 * they are; one whose target is gone is dropped. A share that does not answer at all (hung) is
 * never touched.
 */
export async function healShareLocked(deps: HealDeps, key: ShareKey, secrets: { sensitiveOptions?: OptionList } = {}): Promise<HealOutcome> {
  const journals = new HealJournals(deps.root);
  const sharePath = deps.state.mountPoint(key);
  let journal = journals.read(key);
  const shareMount = mountAt(readMountInfoText(), sharePath);
  if (shareMount === undefined && journal === undefined) return { status: 'answering' }; // not mounted: reconcile's business
  if (journal !== undefined && !(await deps.state.hasRefs(key))) {
    // Every publication went meanwhile: nothing left to make again (the share is released as usual).
    if (mountAt(readMountInfoText(), journals.sideMountPoint(key)) !== undefined) await unmount(journals.sideMountPoint(key), deps.timeouts.commandMs, deps.logger);
    journals.removeSideMountPoint(key);
    journals.remove(key);
    return { status: 'answering' };
  }
  if (shareMount !== undefined) {
    const health = await shareHealth(deps, key, sharePath);
    if (health.state === 'hung') return { status: 'hung', message: health.why };
    if (health.state === 'answering' && journal === undefined) return { status: 'answering' };
    if (health.state === 'broken') deps.logger.warn({ share: key, why: health.why }, 'the share is broken: healing it');
    if (health.state === 'answering') return republishAll(deps, journals, key, journal!);
  }
  // Broken, or not mounted halfway through a heal (between the broken mount's detach and the fresh one's bind).
  const fresh = await mountFresh(deps, journals, key, journal, shareMount, secrets.sensitiveOptions ?? []);
  if (fresh.status === 'failed') return fresh;
  journal = fresh.journal;
  return republishAll(deps, journals, key, journal);
}

/**
 * Mounts the share's source afresh beside the share (at the journal's side mount point), checks
 * that it answers, and only then puts it in the broken mount's place. On failure everything is
 * left as it was.
 */
async function mountFresh(
  deps: HealDeps,
  journals: HealJournals,
  key: ShareKey,
  journal: HealJournal | undefined,
  broken: MountInfoEntry | undefined,
  sensitiveOptions: OptionList,
): Promise<{ status: 'mounted'; journal: HealJournal } | { status: 'failed'; message: string }> {
  const { state, timeouts, logger } = deps;
  const record = await state.readShare(key).catch(() => undefined);
  const backend = record && deps.backends.get(record.backend);
  if (!record || !backend) return { status: 'failed', message: `the share ${key} cannot be mounted again: its record or backend is missing` };
  if (record.hasSensitiveOptions && sensitiveOptions.length === 0) {
    return { status: 'failed', message: `the share ${key} has secret options, which are never stored: the next publish of it, which brings them, heals it` };
  }
  const previous = [...(journal?.previous ?? [])];
  if (broken && !previous.some((p) => p.device === broken.device && p.root === broken.root)) previous.push({ device: broken.device, root: broken.root });
  // The journal first: whatever comes next, a crash leaves a state the next heal recognises.
  const next: HealJournal = { version: 1, key, previous, ...(journal?.targets ? { targets: journal.targets } : {}) };
  journals.write(next);
  const side = journals.sideMountPoint(key);
  const sharePath = state.mountPoint(key);
  let reuse = false;
  if (mountAt(readMountInfoText(), side) !== undefined) {
    // Left by a heal killed after its fresh mount: used when the broken mount is gone already
    // (killed between the two steps of the swap) and it answers, made again otherwise.
    reuse = broken === undefined && (await withTimeout(statfs(side), timeouts.fsMs, 'checking the fresh mount').then(() => true, () => false));
    if (!reuse) await unmount(side, timeouts.commandMs, logger);
  }
  if (!reuse) {
    journals.makeSideMountPoint(key);
    try {
      const source = record.source as Source;
      await backend.admit?.(source);
      // The same checks as a first mount (a host directory swapped for a link to the root is refused).
      await withHostDirectory(backend, source, { root: deps.root, fsMs: timeouts.fsMs }, (hostDirectoryPath) =>
        backend.mount({
          source,
          options: record.options,
          sensitiveOptions,
          mountPoint: side,
          timeoutMs: timeouts.commandMs,
          logger,
          ...(hostDirectoryPath === undefined ? {} : { hostDirectoryPath }),
        }),
      );
      if (mountAt(readMountInfoText(), side) === undefined) throw new SharemountError('INTERNAL', `backend ${backend.name} reported success but nothing is mounted`);
      await withTimeout(statfs(side), timeouts.fsMs, 'checking that the fresh mount answers');
      await expectPublishedDirectories(deps, key, side);
    } catch (error) {
      // The source does not answer yet: the broken mount and its publications stay as they were.
      await unmount(side, timeouts.commandMs, logger).catch(() => {});
      journals.removeSideMountPoint(key);
      if (journal === undefined) journals.remove(key); // this attempt changed nothing else
      return { status: 'failed', message: `the share ${key} could not be mounted again: ${(error as Error).message}` };
    }
  }
  // The swap: the broken mount off the share's mount point, the fresh one on (a bind of it; a
  // move is refused under a shared parent mount, which most nodes' root is), the side mount off.
  if (broken) await unmount(sharePath, timeouts.commandMs, logger);
  await mount({ bind: true, noCanonicalize: true, inheritLocks: true, source: side, target: sharePath }, timeouts.commandMs);
  await unmount(side, timeouts.commandMs, logger);
  journals.removeSideMountPoint(key);
  logger.info({ share: key }, 'share mounted again');
  return { status: 'mounted', journal: next };
}

/**
 * Makes every bind publication of the share show its (fresh, answering) mount: those that
 * still show a broken mount of it are detached and bound again, those a cut-short heal had
 * detached are bound. Ends the heal (removes the journal) once none is left to make.
 */
async function republishAll(deps: HealDeps, journals: HealJournals, key: ShareKey, journal: HealJournal): Promise<HealOutcome> {
  const { state, timeouts, logger } = deps;
  const sharePath = state.mountPoint(key);
  const side = journals.sideMountPoint(key);
  if (mountAt(readMountInfoText(), side) !== undefined) await unmount(side, timeouts.commandMs, logger); // a swap cut short after its bind
  journals.removeSideMountPoint(key);

  const text = readMountInfoText();
  const shareMount = mountAt(text, sharePath);
  if (shareMount === undefined) return { status: 'failed', message: `the share ${key} is not mounted` };
  const mounts = topMounts(parseMountInfo(text));
  const showsShare = (entry: MountInfoEntry, subPath: string) => entry.device === shareMount.device && entry.root === posix.join(shareMount.root, subPath);
  // A lookup that met the dead mount may have unhashed the directory's dentry: the kernel then
  // shows the publication's root with `//deleted` after it.
  const showsBroken = (entry: MountInfoEntry, subPath: string) => journal.previous.some((p) => entry.device === p.device && entry.root.replace(/\/\/deleted$/, '') === posix.join(p.root, subPath));
  const detachedBefore = new Set(journal.targets ?? []);

  const stale: RefRecord[] = [];
  const toBind: RefRecord[] = [];
  const dropped: string[] = [];
  const problems: string[] = [];
  for (const { ref } of await state.listRefs(key)) {
    if (!ref || ref.strategy !== 'bind') continue; // a symlink names the share's mount point: it shows the fresh mount already
    const entry = mounts.get(ref.target);
    if (entry && showsShare(entry, ref.subPath)) continue;
    if (entry && showsBroken(entry, ref.subPath)) {
      stale.push(ref);
      toBind.push(ref);
    } else if (entry) {
      problems.push(`${ref.target} shows a mount that is not of this share; left alone`);
    } else if (!(await exists(ref.target))) {
      // The pod is gone (kubelet removed its directory): as reconcile does, its reference goes.
      await state.removeRef(key, ref.target);
      if ((await state.readIndex(ref.target)) === key) await state.removeIndex(ref.target);
      dropped.push(ref.target);
    } else if (detachedBefore.has(ref.target)) {
      toBind.push(ref); // detached by a heal that was cut short before it bound it again
    }
    // Otherwise a reference without its publication that no heal made: reconcile judges it.
  }
  // Each directory is opened in the fresh mount before its publication is detached: one whose
  // directory is gone from the source keeps the broken mount (its pod sees what it saw) rather
  // than an empty directory, and is reported; its heal stays open.
  const opened = new Map<string, OpenedSubPath>();
  const failed: string[] = [];
  await Promise.all(
    toBind.map(async (ref) => {
      try {
        opened.set(ref.target, await withTimeout(openInsideShare(sharePath, ref.subPath, { create: false, mode: 0o755 }), timeouts.fsMs, 'opening subPath in the healed share'));
      } catch (error) {
        failed.push(ref.target);
        problems.push(`${ref.target} is left as it was: ${(error as Error).message}`);
      }
    }),
  );
  const ready = toBind.filter((ref) => opened.has(ref.target));
  // Which targets are being made again, before the first is detached.
  journals.write({ ...journal, targets: [...new Set([...detachedBefore, ...ready.map((ref) => ref.target)])] });

  await detachMounts(
    stale.filter((ref) => opened.has(ref.target)).map((ref) => ref.target),
    timeouts.commandMs,
  );
  // A target with two mounts of the broken share stacked (a retry's) shows the lower one now.
  for (let round = 0; round < 8; round++) {
    const now = topMounts(parseMountInfo(readMountInfoText()));
    const still = stale.filter((ref) => {
      const entry = now.get(ref.target);
      return entry !== undefined && showsBroken(entry, ref.subPath);
    });
    if (still.length === 0) break;
    await detachMounts(still.map((ref) => ref.target), timeouts.commandMs);
  }

  const shareFlags = (await state.readShare(key).catch(() => undefined))?.mountFlags ?? flagsAtMountPoint(sharePath) ?? [];
  const republished: string[] = [];
  await forEachLimited(ready, bindConcurrency, async (ref) => {
    const directory = opened.get(ref.target)!;
    try {
      await bindAgain(deps, key, ref, directory, shareFlags);
      republished.push(ref.target);
    } catch (error) {
      failed.push(ref.target);
      problems.push(`${ref.target} could not be published again: ${(error as Error).message}`);
    } finally {
      void directory.close();
    }
  });
  if (failed.length === 0) journals.remove(key); // the heal is over
  logger.info({ share: key, republished: republished.length, dropped: dropped.length, problems: problems.length }, 'share healed');
  return { status: 'healed', republished: republished.sort(), dropped, problems };
}

/** Binds the reference's sub-path of the share (opened as a publish opens it) at its target again. */
async function bindAgain(deps: HealDeps, key: ShareKey, ref: RefRecord, directory: OpenedSubPath, shareFlags: readonly string[]): Promise<void> {
  // The fresh mount may number its directories anew: the reference follows, before the bind
  // (a crash between the two leaves a reference a later heal binds again).
  const inode = directory.identity().inode;
  if (inode !== undefined && inode !== ref.directoryInode) await deps.state.writeRef(key, { ...ref, directoryInode: inode });
  await bindStrategy.publish({ directory, sharePath: deps.state.mountPoint(key), target: ref.target, readOnly: ref.readOnly, shareFlags: ref.readOnly ? shareFlags : [], timeoutMs: deps.timeouts.commandMs });
}

/**
 * Refuses a fresh mount that shows none of the directories the share's references publish: not
 * the source as it was (a FUSE source whose daemon is not back shows the empty directory below
 * it), which would leave every publication empty.
 */
async function expectPublishedDirectories(deps: HealDeps, key: ShareKey, freshMount: string): Promise<void> {
  const subPaths = [...new Set((await deps.state.listRefs(key)).flatMap(({ ref }) => (ref ? [ref.subPath] : [])))];
  if (subPaths.length === 0) return;
  const found = await Promise.all(
    subPaths.map((subPath) =>
      withTimeout(openInsideShare(freshMount, subPath, { create: false, mode: 0o755 }), deps.timeouts.fsMs, 'opening subPath in the fresh mount').then(
        (directory) => {
          void directory.close();
          return true;
        },
        () => false,
      ),
    ),
  );
  if (!found.includes(true)) {
    const shown = subPaths.slice(0, 3).map((subPath) => `"${subPath}"`).join(', ');
    throw new SharemountError('FAILED_PRECONDITION', `the fresh mount shows none of the share's published directories (${shown}${subPaths.length > 3 ? '...' : ''}): it is not the source as it was (is it served again?)`);
  }
}

/** Whether a path exists (a missing pod directory); a target that is not mounted is never a hung mount. */
async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    (error: NodeJS.ErrnoException) => error.code !== 'ENOENT',
  );
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
