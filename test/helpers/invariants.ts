import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readMountInfo, topMounts, type MountInfoEntry } from '../../src/mountinfo.js';
import { StateStore } from '../../src/state.js';
import { expect } from 'vitest';
import type { MountManager, ShareStatus } from '../../src/mount-manager.js';

/** What part of the machine the checks cover beyond the state root. */
export interface InvariantScope {
  /** Where the test's publications go: every mount and symlink below it must be a publication. */
  pods: string;
}

/**
 * Checks the core's invariants against the kernel's mount table and returns every violation
 * (an empty list when all hold), so that a failing test prints all of them at once:
 * - every mount under the state root is the mount point of a listed share, mounted once;
 * - a share is mounted iff it has a reference, and a share with neither is not left on disk;
 * - every reference matches a real publication: a bind mount of exactly `share/subPath` (same
 *   filesystem, same root), `ro` when read-only, or a symlink to exactly `share/subPath`;
 * - every reference is indexed under `_targets` and every index entry has its reference;
 * - every mount and symlink under the pods dir is a referenced publication, mounted once.
 */
export async function invariantViolations(manager: MountManager, scope: InvariantScope): Promise<string[]> {
  const root = await manager.root();
  const state = new StateStore(root);
  const entries = await readMountInfo();
  const top = topMounts(entries);
  const shares = await manager.list();
  const violations: string[] = [];
  const byMountPoint = new Map(shares.map((share) => [share.mountPoint, share]));

  for (const [mountPoint, count] of countBy(entries.filter((e) => within(e.mountPoint, root)).map((e) => e.mountPoint))) {
    if (!byMountPoint.has(mountPoint)) violations.push(`mount under the state root that is no share's mount point: ${mountPoint}`);
    if (count > 1) violations.push(`share mounted ${count} times: ${mountPoint}`);
  }

  const publishedTargets = new Set<string>();
  for (const share of shares) {
    violations.push(...(await shareViolations(state, share, top)));
    for (const publication of share.publications) publishedTargets.add(publication.target);
  }
  violations.push(...(await indexViolations(state, shares)));

  const podMounts = entries.filter((e) => within(e.mountPoint, scope.pods) && e.mountPoint !== scope.pods);
  for (const [mountPoint, count] of countBy(podMounts.map((e) => e.mountPoint))) {
    if (!publishedTargets.has(mountPoint)) violations.push(`mount under the pods dir with no reference: ${mountPoint}`);
    if (count > 1) violations.push(`publication mounted ${count} times (stacked): ${mountPoint}`);
  }
  for (const link of await symlinksUnder(scope.pods, new Set(podMounts.map((e) => e.mountPoint)))) {
    if (!publishedTargets.has(link)) violations.push(`symlink under the pods dir with no reference: ${link}`);
  }
  return violations;
}

async function shareViolations(state: StateStore, share: ShareStatus, top: ReadonlyMap<string, MountInfoEntry>): Promise<string[]> {
  const violations: string[] = [];
  const shareMount = top.get(share.mountPoint);
  const records = await state.listRefs(share.key);
  const unreadable = records.filter((r) => !r.ref);
  for (const { file } of unreadable) violations.push(`unreadable reference record: ${file}`);
  if (records.length > 0 && !shareMount) violations.push(`share referenced (${records.length}) but not mounted: ${share.key}`);
  if (records.length === 0 && shareMount) violations.push(`share mounted with no reference: ${share.key}`);
  if (records.length === 0 && !shareMount) violations.push(`share directory left with neither mount nor reference: ${share.key}`);

  for (const publication of share.publications) {
    const where = `${publication.target} (share ${share.key}, subPath "${publication.subPath}")`;
    if (publication.strategy === 'symlink') {
      const text = await readlink(publication.target).catch(() => undefined);
      if (text !== publication.path) violations.push(`symlink publication missing or pointing elsewhere (${text ?? 'no link'}): ${where}`);
      continue;
    }
    const mount = top.get(publication.target);
    if (!mount) {
      violations.push(`reference without its bind mount: ${where}`);
      continue;
    }
    if (!shareMount) continue; // already reported
    if (mount.device !== shareMount.device || mount.root !== posix.join(shareMount.root, publication.subPath)) {
      violations.push(`bind mount shows something else (${mount.device} ${mount.root}): ${where}`);
    }
    // A bind mount inherits the share's own `ro`, so only a read-only share may give read-only to all.
    const isRo = mount.mountOptions.includes('ro');
    if (publication.readOnly && !isRo) violations.push(`read-only publication is writable: ${where}`);
    if (!publication.readOnly && isRo && !shareMount.mountOptions.includes('ro')) violations.push(`writable publication is read-only: ${where}`);
  }
  return violations;
}

async function indexViolations(state: StateStore, shares: readonly ShareStatus[]): Promise<string[]> {
  const violations: string[] = [];
  const references = new Map<string, string>();
  for (const share of shares) for (const publication of share.publications) references.set(publication.target, share.key);
  for (const [target, key] of references) {
    const indexed = await state.readIndex(target);
    if (indexed !== key) violations.push(`reference not indexed (index says ${indexed ?? 'nothing'}): ${target} -> ${key}`);
  }
  const index = await state.listIndex();
  const indexedKeys = new Map<string, number>();
  for (const { name, key } of index) {
    if (name.startsWith('.tmp-')) continue; // a symlink a killed process never renamed: inert
    if (key === undefined) violations.push(`index entry with no valid share key: _targets/${name}`);
    else indexedKeys.set(key, (indexedKeys.get(key) ?? 0) + 1);
  }
  const referenceCount = countBy([...references.values()]);
  for (const [key, count] of indexedKeys) {
    if ((referenceCount.get(key) ?? 0) < count) violations.push(`index has ${count} entries for ${key} but only ${referenceCount.get(key) ?? 0} references`);
  }
  return violations;
}

async function symlinksUnder(dir: string, mountPoints: ReadonlySet<string>): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for (const name of await readdir(path).catch(() => [] as string[])) {
      const full = join(path, name);
      if (mountPoints.has(full)) continue; // never look into a publication
      const stats = await lstat(full).catch(() => undefined);
      if (stats?.isSymbolicLink()) found.push(full);
      else if (stats?.isDirectory()) await walk(full);
    }
  };
  await walk(dir);
  return found;
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function countBy(items: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  return counts;
}

/** Fails the test with every violation listed when any invariant does not hold. */
export async function assertInvariants(manager: MountManager, scope: InvariantScope): Promise<void> {
  expect(await invariantViolations(manager, scope)).toEqual([]);
}
