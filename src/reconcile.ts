import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { decodeComponent, isHashedComponent } from './escape.js';
import { unmount, remountReadOnly } from './mount-command.js';
import { flagsOfMount, isRestrictedCopy } from './mount-flags.js';
import { identityAt } from './mount-point.js';
import { entriesOfFilesystemAt, parseMountInfo, readMountInfo, readMountInfoText, topMounts, type MountInfoEntry } from './mountinfo.js';
import { strategies } from './strategies/index.js';
import { isWithin } from './target.js';
import type { AnyBackend, Source } from './backend.js';
import type { KeyedLock } from './lock.js';
import type { Logger } from './logger.js';
import { isShareKeyShape, refRecordSchema, tempIndexPrefix, type StateStore, type RefRecord } from './state.js';
import type { ShareKey } from './share-key.js';
import type { Timeouts } from './manager-options.js';
import { withHostDirectory } from './host-directory.js';
import { isSharemountError } from './errors.js';
import type { HungShares } from './hung-shares.js';
import { withTimeout } from './timeout.js';
import { healBrokenShares, type HealedShare } from './reconcile-heal.js';
import { madeInAnotherNamespace, placeTag } from './root-world.js';
import { parseRecordText } from './record-text.js';

/** What `reconcile` found and did. */
export interface ReconcileReport {
  sharesChecked: number;
  droppedReferences: Array<{ share: ShareKey; target: string | undefined; reason: string }>;
  adoptedPublications: Array<{ share: ShareKey; target: string }>;
  repairedReadOnly: Array<{ share: ShareKey; target: string }>;
  unmountedShares: ShareKey[];
  remountedShares: ShareKey[];
  /** Broken shares mounted again, with the publications made again from the fresh mount (docs/healing.md). */
  healedShares: HealedShare[];
  droppedIndexEntries: number;
  /** What could not be repaired, for an operator to look at. */
  problems: Array<{ share: ShareKey; message: string }>;
}

export interface ReconcileDeps {
  root: string;
  state: StateStore;
  locks: KeyedLock;
  backends: ReadonlyMap<string, AnyBackend>;
  timeouts: Timeouts;
  logger: Logger;
  /** The manager's record of shares that stopped answering: never looked into in-process again until they answer. */
  hungShares: HungShares;
}

type Mounts = ReadonlyMap<string, MountInfoEntry>;

/**
 * Checks every share (or one) against /proc/self/mountinfo. Decisions are first made without
 * locks on one snapshot of the mount table, which is enough when all is well (the common case
 * costs no lock at all); anything to repair is then re-checked on a fresh snapshot while holding
 * the target's and the share's locks (in that order, as publish takes them), so a concurrent
 * publish is never mistaken for debris.
 */
export async function reconcileShares(deps: ReconcileDeps, only?: ShareKey): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    sharesChecked: 0,
    droppedReferences: [],
    adoptedPublications: [],
    repairedReadOnly: [],
    unmountedShares: [],
    remountedShares: [],
    healedShares: [],
    droppedIndexEntries: 0,
    problems: [],
  };
  const keys = only !== undefined ? [only] : await deps.state.listShareKeys();
  // One share needs only its filesystem's mounts (the share, its publications, any unrecorded
  // bind mount of it): what a FlexVolume call reconciles costs the same however many mounts the
  // node has. Anything to repair is re-checked on the whole table, under locks.
  let text = readMountInfoText();
  // Broken shares are healed first (or a heal a crash cut short is finished): what follows then
  // judges the publications made from the fresh mounts.
  const healing = await healBrokenShares(deps, keys, text, report);
  if (healing.changed) text = readMountInfoText();
  const entries = only !== undefined ? entriesOfFilesystemAt(text, deps.state.mountPoint(only)) : parseMountInfo(text);
  const snapshot = topMounts(entries);
  const orphans = unrecordedPublications(deps.root, entries, snapshot);
  const healthy = new Set<string>(); // `${share}\0${target}` of references found sound
  for (const batch of chunks(keys, 16)) {
    await Promise.all(batch.map((key) => reconcileShare(deps, key, snapshot, orphans, healthy, report, healing.pending.has(key))));
  }
  report.sharesChecked = keys.length;
  if (only === undefined) report.droppedIndexEntries = await dropDanglingIndexEntries(deps, healthy);
  if (report.droppedReferences.length + report.unmountedShares.length + report.adoptedPublications.length > 0) {
    deps.logger.info({ ...report, problems: report.problems.length }, 'reconciled');
  }
  return report;
}

async function reconcileShare(
  deps: ReconcileDeps,
  key: ShareKey,
  snapshot: Mounts,
  orphans: ReadonlyMap<string, string[]>,
  healthyRefs: Set<string>,
  report: ReconcileReport,
  healPending = false,
): Promise<void> {
  const { state, locks } = deps;
  const sharePath = state.mountPoint(key);
  const refs = await state.listRefs(key);
  const shareMount = snapshot.get(sharePath);
  const suspects: RefRecord[] = [];
  let healthy = 0;
  for (const { file, ref } of refs) {
    if (!ref) {
      await locks.withLock(`share:${key}`, () => dropUnreadable(deps, key, file, report));
      continue;
    }
    const found = await verdict(deps, key, ref, sharePath, shareMount, snapshot);
    if (found === 'missing' && healPending) {
      // A heal not over yet (its source does not answer): the publication may show the broken mount, or none for now.
      healthyRefs.add(`${key}\0${ref.target}`);
      continue;
    }
    if (found === 'ok') {
      healthy++;
      healthyRefs.add(`${key}\0${ref.target}`);
      // Seen here: from now on it is this namespace's to judge (a restarted plugin's first reconcile).
      if (ref.madeIn !== undefined && ref.madeIn !== placeTag()) await locks.withLocks([`target:${ref.target}`, `share:${key}`], () => reown(deps, key, ref.target));
    } else if (found === 'unchecked') {
      healthyRefs.add(`${key}\0${ref.target}`); // kept, and so is its index entry
      report.problems.push({ share: key, message: `the publication at ${ref.target} could not be checked in time (is the share hung?); its reference is kept` });
    } else suspects.push(ref);
  }
  for (const ref of suspects) {
    await locks.withLocks([`target:${ref.target}`, `share:${key}`], () => repairReference(deps, key, ref, report));
  }
  const known = new Set(refs.map((r) => r.ref?.target));
  for (const target of (orphans.get(sharePath) ?? []).filter((t) => !known.has(t))) {
    await locks.withLocks([`target:${target}`, `share:${key}`], () => adopt(deps, key, target, report));
  }
  if (healthy > 0 && shareMount && suspects.length === 0) return; // all is well: no lock taken
  await locks.withLock(`share:${key}`, () => settleShare(deps, key, report));
}

/** 'unchecked': the share did not answer the check in time; a reference is never dropped on that. */
type Verdict = 'ok' | 'missing' | 'writable' | 'unchecked';

async function verdict(deps: ReconcileDeps, key: ShareKey, ref: RefRecord, sharePath: string, shareMount: MountInfoEntry | undefined, mounts: Mounts): Promise<Verdict> {
  const { target, subPath, directoryInode } = ref;
  const strategy = strategies[ref.strategy];
  let published = await strategy.isPublished({ target, sharePath, subPath, shareMount, mounts });
  if (!published && directoryInode !== undefined && shareMount && strategy.showsRenamedDirectory) {
    // Its directory renamed since, perhaps: that looks into the share, bounded and guarded.
    try {
      published = await lookIntoShare(deps, key, `checking the publication at ${target}`, () => strategy.showsRenamedDirectory!({ target, sharePath, directoryInode, shareMount, mounts }));
    } catch (error) {
      if (isSharemountError(error, 'TIMEOUT')) return 'unchecked';
      published = false; // gone meanwhile, or broken: not shown
    }
  }
  if (!published) return 'missing';
  // A read-only publication must be read-only and keep the share's restrictions (nosuid...).
  if (ref.strategy === 'bind' && ref.readOnly && !isRestrictedCopy(mounts.get(target)?.mountOptions ?? [], shareMount ? flagsOfMount(shareMount.mountOptions) : [])) return 'writable';
  return 'ok';
}

/** In-process calls into a share, bounded by fsMs; a share known to hang is probed from a child first. */
function lookIntoShare<T>(deps: ReconcileDeps, key: ShareKey, what: string, work: () => Promise<T>): Promise<T> {
  const { fsMs } = deps.timeouts;
  return deps.hungShares.guard(key, deps.state.mountPoint(key), fsMs, () => withTimeout(work(), fsMs, what));
}

/** Under the target's and share's locks, on a fresh mount table: drop or repair one reference. */
async function repairReference(deps: ReconcileDeps, key: ShareKey, suspect: RefRecord, report: ReconcileReport): Promise<void> {
  const ref = await deps.state.readRef(key, suspect.target);
  if (!ref) return; // unpublished meanwhile
  const entries = await readMountInfo();
  const mounts = topMounts(entries);
  const sharePath = deps.state.mountPoint(key);
  const now = await verdict(deps, key, ref, sharePath, mounts.get(sharePath), mounts);
  if (now === 'ok' || now === 'unchecked') return;
  if (now === 'missing' && (await isCovered(ref, sharePath, mounts.get(sharePath), entries, mounts))) {
    // Still a publication, under a mount someone put on top of it: dropping its reference would
    // leave its mount counted by nobody, and the share releasable under the pod.
    report.problems.push({ share: key, message: `the publication at ${ref.target} is covered by a mount sharemount did not make; its reference is kept (unmount what covers it)` });
    return;
  }
  if (now === 'writable') {
    // A publish killed between the bind and its read-only remount (the pod must not get rw), or
    // one made before read-only publications kept the share's flags.
    const shareMount = mounts.get(sharePath);
    await remountReadOnly(ref.target, deps.timeouts.commandMs, shareMount ? flagsOfMount(shareMount.mountOptions) : []);
    report.repairedReadOnly.push({ share: key, target: ref.target });
    return;
  }
  if (madeInAnotherNamespace(ref.madeIn)) {
    // Not visible here is not gone: it may be alive in the namespace that made it (a plugin
    // restarted into a new container whose view lacks it). Never dropped for that alone.
    report.problems.push({ share: key, message: `the publication at ${ref.target} was made in another mount namespace and is not visible in this one; its reference is kept (unpublish it, or reconcile where it was made)` });
    return;
  }
  await deps.state.removeRef(key, ref.target);
  if ((await deps.state.readIndex(ref.target)) === key) await deps.state.removeIndex(ref.target);
  report.droppedReferences.push({ share: key, target: ref.target, reason: 'publication not found in the mount table' });
  deps.logger.warn({ share: key, target: ref.target }, 'dropped a reference whose publication is gone');
}

/** Whether a mount below the top one at the reference's target is its publication. */
async function isCovered(ref: RefRecord, sharePath: string, shareMount: MountInfoEntry | undefined, entries: readonly MountInfoEntry[], mounts: Mounts): Promise<boolean> {
  if (ref.strategy !== 'bind') return false;
  const top = mounts.get(ref.target);
  for (const entry of entries) {
    if (entry.mountPoint !== ref.target || entry === top) continue;
    const alone = new Map([[ref.target, entry]]);
    if (await strategies[ref.strategy].isPublished({ target: ref.target, sharePath, subPath: ref.subPath, shareMount, mounts: alone })) return true;
  }
  return false;
}

/** Marks a reference as made in this mount namespace (re-read under its locks). */
async function reown(deps: ReconcileDeps, key: ShareKey, target: string): Promise<void> {
  const ref = await deps.state.readRef(key, target);
  if (ref?.madeIn !== undefined && ref.madeIn !== placeTag()) await deps.state.writeRef(key, { ...ref, madeIn: placeTag() });
}

async function dropUnreadable(deps: ReconcileDeps, key: ShareKey, file: string, report: ReconcileReport): Promise<void> {
  const { readFile, unlink } = await import('node:fs/promises');
  // Re-read under the lock: the unlocked listing may have caught a record while it was being
  // unpublished (gone now) or published again (valid now); neither is debris to delete.
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || parseRecordText(refRecordSchema, text) !== undefined) return;
  await unlink(file).catch(() => {});
  report.droppedReferences.push({ share: key, target: undefined, reason: 'unreadable reference record' });
}

/**
 * Bind mounts outside the root that show a directory of exactly one share mounted under it, by
 * that share's mount point: publications, recorded or not (the caller keeps the unrecorded ones).
 * Adopting an unrecorded one keeps the share mounted under the pod that uses it (removing it
 * could break a running pod, and kubelet never calls again for a dir that already is a mount
 * point). A mount that more than one share could have made is ambiguous and left alone, and so
 * is one listed before the share's own mount: the kernel lists mounts in the order they were
 * made, and a publication is made from its share, so an earlier mount of the same directory is
 * something else (the share's source when that is a mount point itself, say).
 * Built once per reconcile: each mount's root is looked up upwards in a map of share mounts.
 */
function unrecordedPublications(root: string, entries: readonly MountInfoEntry[], snapshot: Mounts): Map<string, string[]> {
  const shares = new Map<string, Array<{ entry: MountInfoEntry; position: number }>>(); // `${device}\0${root}` -> share mounts
  entries.forEach((entry, position) => {
    if (!entry.mountPoint.endsWith('/mnt') || !isWithin(entry.mountPoint, root)) return;
    const key = `${entry.device}\0${entry.root}`;
    const list = shares.get(key);
    if (list) list.push({ entry, position });
    else shares.set(key, [{ entry, position }]);
  });
  const byShare = new Map<string, string[]>();
  if (shares.size === 0) return byShare;
  entries.forEach((entry, position) => {
    if (snapshot.get(entry.mountPoint) !== entry || isWithin(entry.mountPoint, root)) return; // hidden, or ours
    const covering: MountInfoEntry[] = [];
    for (let dir = entry.root; ; dir = posix.dirname(dir)) {
      for (const share of shares.get(`${entry.device}\0${dir}`) ?? []) if (share.position < position) covering.push(share.entry);
      if (dir === '/' || dir === '.') break;
    }
    if (covering.length !== 1) return;
    const sharePath = covering[0]!.mountPoint;
    const list = byShare.get(sharePath);
    if (list) list.push(entry.mountPoint);
    else byShare.set(sharePath, [entry.mountPoint]);
  });
  return byShare;
}

async function adopt(deps: ReconcileDeps, key: ShareKey, target: string, report: ReconcileReport): Promise<void> {
  const { state } = deps;
  const entries = await readMountInfo();
  const mounts = topMounts(entries);
  const shareMount = mounts.get(state.mountPoint(key));
  const entry = mounts.get(target);
  if (!shareMount || !entry || entry.device !== shareMount.device || !isWithin(entry.root, shareMount.root)) return;
  if (entries.indexOf(entry) < entries.indexOf(shareMount)) return; // made before the share: not from it
  // Publish claims the target's index entry before anything else: a bind mount of the share
  // whose target has no entry naming this share is someone else's (kubelet's volume-subpaths
  // mounts of a pod's volume, a tool's own bind mount), never to be adopted and unmounted later.
  if ((await state.readRef(key, target)) || (await state.readIndex(target)) !== key) return;
  const subPath = posix.relative(shareMount.root, entry.root);
  const directoryInode = await lookIntoShare(deps, key, 'checking the publication', () => identityAt(target)).then((identity) => identity.inode, () => undefined);
  await state.writeRef(key, {
    version: 1,
    target,
    subPath,
    readOnly: entry.mountOptions.includes('ro'),
    strategy: 'bind',
    createdTarget: false,
    publishedAt: new Date().toISOString(),
    ...(directoryInode === undefined ? {} : { directoryInode }),
    madeIn: placeTag(),
  });
  await state.writeIndex(target, key);
  report.adoptedPublications.push({ share: key, target });
  deps.logger.warn({ share: key, target }, 'adopted a publication that had no reference');
}

/** Under the share's lock: mounted iff referenced. */
async function settleShare(deps: ReconcileDeps, key: ShareKey, report: ReconcileReport): Promise<void> {
  const { state } = deps;
  const sharePath = state.mountPoint(key);
  const mounted = topMounts(await readMountInfo()).has(sharePath);
  if (!(await state.hasRefs(key))) {
    if (mounted) {
      await unmount(sharePath, deps.timeouts.commandMs, deps.logger);
      report.unmountedShares.push(key);
    }
    await state.removeShare(key);
    return;
  }
  if (mounted) return;
  const record = await state.readShare(key).catch(() => undefined);
  const backend = record && deps.backends.get(record.backend);
  if (!record || !backend) {
    report.problems.push({ share: key, message: 'referenced but not mounted, and its record or backend is missing' });
    return;
  }
  if (record.hasSensitiveOptions) {
    report.problems.push({ share: key, message: 'referenced but not mounted; it has secret options, which are never stored, so the next publish must remount it' });
    return;
  }
  try {
    await backend.admit?.(record.source as Source);
    await state.createShare(record);
    // The same check as a first mount: a host directory swapped since for a link to the root is refused.
    await withHostDirectory(backend, record.source as Source, { root: deps.root, fsMs: deps.timeouts.fsMs }, (hostDirectoryPath) =>
      backend.mount({
        source: record.source as Source,
        options: record.options,
        sensitiveOptions: [],
        mountPoint: sharePath,
        timeoutMs: deps.timeouts.commandMs,
        logger: deps.logger,
        ...(hostDirectoryPath === undefined ? {} : { hostDirectoryPath }),
      }),
    );
    report.remountedShares.push(key);
  } catch (error) {
    report.problems.push({ share: key, message: `referenced but not mounted, and remounting failed: ${(error as Error).message}` });
  }
}

/** Index entries whose reference is gone (a crash between the two removals of unpublish). */
async function dropDanglingIndexEntries(deps: ReconcileDeps, healthyRefs: ReadonlySet<string>): Promise<number> {
  let dropped = 0;
  for (const { name, key } of await deps.state.listIndex()) {
    if (name.startsWith(tempIndexPrefix)) {
      // A symlink a killed process was about to rename into place. Its writer renames it at
      // once, so one a minute old is garbage (an age, not a PID: the writer may live in another
      // PID namespace).
      const age = await lstat(posix.join(deps.root, '_targets', name)).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 60_000) {
        await deps.state.removeIndexEntry(name);
        dropped++;
      }
      continue;
    }
    const target = targetOfIndexName(name);
    if (key === undefined) {
      // Re-read under the target's lock: the unlocked listing may have caught an entry that an
      // unpublish was removing and a publish has written again since; only garbage still there goes.
      const dropGarbage = async () => {
        const text = await readlink(posix.join(deps.root, '_targets', name)).catch(() => undefined);
        if (text === undefined || isShareKeyShape(text)) return;
        await deps.state.removeIndexEntry(name);
        dropped++;
      };
      await (target === undefined ? dropGarbage() : deps.locks.withLock(`target:${target}`, dropGarbage));
      continue;
    }
    if (target === undefined) continue; // hashed (or foreign): cannot name its target; reconcile of its share covers it
    if (healthyRefs.has(`${key}\0${target}`)) continue; // its reference was just found sound
    await deps.locks.withLock(`target:${target}`, async () => {
      if ((await deps.state.readIndex(target)) !== key || (await deps.state.readRef(key, target))) return;
      await deps.state.removeIndex(target);
      dropped++;
    });
  }
  return dropped;
}

/** The target an index entry's name encodes, or undefined when it is hashed or not one of ours. */
function targetOfIndexName(name: string): string | undefined {
  if (isHashedComponent(name)) return undefined;
  try {
    return decodeComponent(name);
  } catch {
    return undefined;
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

