/**
 * reconcile() repairs, one by one, on states constructed directly (what a crash, an operator
 * or a reboot can leave): each case first shows that the invariant checker sees the damage,
 * then that reconcile reports the repair it made and that afterwards every invariant holds.
 */
import { mkdir, readFile, readdir, rename, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MountManager, type Publication } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { StateStore } from '../../src/state.js';
import { KeyedLock } from '../../src/lock.js';
import { loadRootKey } from '../../src/root-key.js';
import { encodeComponent } from '../../src/escape.js';
import { withoutFdinfoInode } from '../../src/mount-point.js';
import { assertInvariants, invariantViolations } from '../helpers/invariants.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';
import type { ReconcileReport } from '../../src/reconcile.js';
import type { Source } from '../../src/backend.js';

const skip = skipUnlessReady();

/** The state root's locks as another process sharing the root makes them: its identity, keyed with its key. */
async function rootLockAsAnotherProcess(root: string): Promise<KeyedLock> {
  const identity = await stat(root);
  return new KeyedLock(`${identity.dev}:${identity.ino}`, 10_000, await loadRootKey(join(root, '_key')));
}

const nothing: Omit<ReconcileReport, 'sharesChecked'> = {
  droppedReferences: [],
  adoptedPublications: [],
  repairedReadOnly: [],
  unmountedShares: [],
  remountedShares: [],
  healedShares: [],
  droppedIndexEntries: 0,
  problems: [],
};

describe.skipIf(skip)('core: reconcile repairs what a crash can leave', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let state: StateStore;
  let caseNumber = 0;
  let pods: string;

  beforeAll(async () => {
    sandbox = await createSandbox();
    await seedSourceTree(sandbox.source, 4);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    state = new StateStore(await manager.root());
  });

  afterEach(async () => {
    for (const share of await manager.list()) for (const p of share.publications) await manager.unpublish(p.target).catch(() => {});
    await unmountEverythingUnder(sandbox.pods);
    await unmountEverythingUnder(sandbox.root);
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  /** Each case publishes under its own pods dir, so its checks see only its own publications. */
  async function publish(name: string, subPath: string, readOnly = false): Promise<Publication> {
    return manager.publish({ source: { backend: 'bind', path: sandbox.source } as Source, subPath, readOnly, target: join(pods, name) });
  }

  async function reconciled(expected: Partial<ReconcileReport>): Promise<void> {
    const report = await manager.reconcile();
    expect({ ...report, sharesChecked: 0 }).toEqual({ ...nothing, ...expected, sharesChecked: 0 });
    await assertInvariants(manager, { pods });
    expect(await manager.reconcile()).toMatchObject(nothing);
  }

  beforeEach(async () => {
    pods = join(sandbox.pods, `case-${++caseNumber}`);
    await mkdir(pods);
  });

  it('keeps publications whose sub-path and target mix a space with a non-ASCII name', async () => {
    await mkdir(join(sandbox.source, 'données 1'), { recursive: true });
    await mkdir(join(pods, 'vol é x'));
    await publish('vol é x', 'données 1');
    await publish('plain', 'd000');
    await reconciled({});
    expect((await manager.list()).flatMap((share) => share.publications.map((p) => p.target)).sort()).toEqual([join(pods, 'plain'), join(pods, 'vol é x')]);
  });

  it('unmounts a share that is mounted with no reference', async () => {
    const publication = await publish('a', 'd000');
    await execa('umount', [publication.target]);
    await state.removeRef(publication.shareKey, publication.target);
    await state.removeIndex(publication.target);
    expect(await invariantViolations(manager, { pods })).toEqual([expect.stringMatching(/share mounted with no reference/)]);

    await reconciled({ unmountedShares: [publication.shareKey] });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
  });

  it('drops a reference whose publication is gone, and keeps the share for the others', async () => {
    const gone = await publish('gone', 'd000');
    const kept = await publish('kept', 'd001');
    await execa('umount', [gone.target]);
    expect(await invariantViolations(manager, { pods })).toEqual([expect.stringMatching(/reference without its bind mount/)]);

    await reconciled({ droppedReferences: [{ share: gone.shareKey, target: gone.target, reason: expect.any(String) }] });
    expect(await state.readIndex(gone.target)).toBeUndefined();
    const [share] = await manager.list();
    expect(share!.mounted).toBe(true);
    expect(share!.publications.map((p) => p.target)).toEqual([kept.target]);
  });

  it('remounts read-only a read-only publication left writable', async () => {
    const publication = await publish('ro', 'd002', true);
    await execa('mount', ['-o', 'remount,bind,rw', publication.target]);
    await writeFile(join(publication.target, 'while-writable.txt'), 'x'); // the damage is real
    await execa('rm', [join(sandbox.source, 'd002', 'while-writable.txt')]);
    expect(await invariantViolations(manager, { pods })).toEqual([expect.stringMatching(/read-only publication is writable/)]);

    await reconciled({ repairedReadOnly: [{ share: publication.shareKey, target: publication.target }] });
    await expect(writeFile(join(publication.target, 'after.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
  });

  it('adopts a bind publication of a share that has no reference (its record lost) but whose index entry names the share', async () => {
    const publication = await publish('orphan', 'd003', true);
    await state.removeRef(publication.shareKey, publication.target);
    const violations = await invariantViolations(manager, { pods });
    expect(violations).toEqual(
      expect.arrayContaining([expect.stringMatching(/share mounted with no reference/), expect.stringMatching(/mount under the pods dir with no reference/)]),
    );

    await reconciled({ adoptedPublications: [{ share: publication.shareKey, target: publication.target }] });
    const [share] = await manager.list();
    expect(share!.publications).toEqual([{ ...publication }]); // sub-path and read-only recovered from the kernel
    expect(await manager.unpublish(publication.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it("leaves alone someone else's bind mount of a share's directory (kubelet's volume-subpaths), and releases the share without it", async () => {
    const publication = await publish('pod-volume', 'd002');
    const other = join(sandbox.dir, `other-tool-${caseNumber}`);
    await mkdir(other);
    await execa('mount', ['--bind', '--', publication.target, other]); // as kubelet binds a container's subPath of the volume
    try {
      expect(await manager.reconcile()).toMatchObject(nothing);
      expect(await state.readIndex(other)).toBeUndefined();
      expect(await manager.unpublish(other)).toEqual({ unpublished: false, shareUnmounted: false });
      expect((await mountsUnder(sandbox.dir)).some((m) => m.mountPoint === other)).toBe(true); // untouched
      expect(await manager.unpublish(publication.target)).toEqual({ unpublished: true, shareUnmounted: true });
      expect(await manager.reconcile()).toMatchObject(nothing);
      expect(await manager.list()).toEqual([]);
    } finally {
      await execa('umount', ['--lazy', other]);
    }
  });

  it('keeps the reference of a publication whose directory a consumer of the share renamed under it (nested volumes)', async () => {
    // Two volumes, one inside the other (`outer` and `outer/inner`): the outer volume's pod can
    // rename `inner`, and the inner publication then shows a directory of another name.
    await mkdir(join(sandbox.source, 'outer', 'inner'), { recursive: true });
    const outer = await publish('outer', 'outer');
    const inner = await publish('inner', 'outer/inner');
    await writeFile(join(inner.target, 'pod-data.txt'), 'written by the inner pod');
    await rename(join(outer.target, 'inner'), join(outer.target, 'renamed'));
    try {
      expect(await manager.reconcile()).toMatchObject(nothing);
      expect(await manager.reconcile({ share: inner.shareKey })).toMatchObject(nothing);
      // A repeat publish (a kubelet retrying) finds its publication still there.
      expect(await publish('inner', 'outer/inner')).toEqual(inner);
      expect(await readFile(join(inner.target, 'pod-data.txt'), 'utf8')).toBe('written by the inner pod');
      // Each unpublish takes off its own mount; the last one releases the share.
      expect(await manager.unpublish(outer.target)).toEqual({ unpublished: true, shareUnmounted: false });
      expect(await manager.unpublish(inner.target)).toEqual({ unpublished: true, shareUnmounted: true });
      expect(await mountsUnder(sandbox.dir)).toEqual([]);
    } finally {
      await rename(join(sandbox.source, 'outer', 'renamed'), join(sandbox.source, 'outer', 'inner'));
    }
  });

  it('a failed repeat publish keeps the reference of a publication still mounted: without fdinfo inodes (kernels before 5.14), or under a foreign mount', async () => {
    await mkdir(join(sandbox.source, 'old-kernel', 'inner'), { recursive: true });
    await mkdir(join(sandbox.dir, 'foreign-repeat'));
    process.env[withoutFdinfoInode] = '1'; // the test seam: identityOfFd reports no inode, as such a kernel
    let covered: Publication | undefined;
    try {
      const outer = await publish('old-outer', 'old-kernel');
      const inner = await publish('old-inner', 'old-kernel/inner');
      expect((await state.readRef(inner.shareKey, inner.target))?.directoryInode).toBeUndefined();
      await rename(join(outer.target, 'inner'), join(outer.target, 'renamed'));
      // No inode to recognise its publication by, nor its directory by that name: the repeat
      // fails, and keeps the reference.
      await expect(publish('old-inner', 'old-kernel/inner')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await manager.publicationAt(inner.target)).toEqual(inner);
      delete process.env[withoutFdinfoInode];

      // A publication with a foreign mount stacked on it: the same.
      covered = await publish('covered-repeat', 'd003');
      await execa('mount', ['--bind', '--', join(sandbox.dir, 'foreign-repeat'), covered.target]);
      await expect(publish('covered-repeat', 'd003')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      expect(await manager.publicationAt(covered.target)).toEqual(covered);
      expect((await manager.list()).find((share) => share.key === covered!.shareKey)?.mounted).toBe(true);
    } finally {
      delete process.env[withoutFdinfoInode];
      if (covered) await execa('umount', [covered.target]);
      await rename(join(sandbox.source, 'old-kernel', 'renamed'), join(sandbox.source, 'old-kernel', 'inner')).catch(() => {});
    }
  });

  it('keeps the reference of a publication with a foreign mount stacked on it, and reports the problem', async () => {
    await mkdir(join(sandbox.dir, 'foreign-on-top'));
    const covered = await publish('covered', 'd002');
    await execa('mount', ['--bind', '--', join(sandbox.dir, 'foreign-on-top'), covered.target]);
    try {
      for (const report of [await manager.reconcile(), await manager.reconcile({ share: covered.shareKey })]) {
        expect({ ...report, sharesChecked: 0 }).toEqual({ ...nothing, sharesChecked: 0, problems: [{ share: covered.shareKey, message: expect.stringContaining(`the publication at ${covered.target} is covered`) }] });
      }
      expect(await manager.publicationAt(covered.target)).toEqual(covered);
      expect((await manager.list()).find((share) => share.key === covered.shareKey)?.mounted).toBe(true);
    } finally {
      await execa('umount', [covered.target]);
    }
    await reconciled({});
  });

  it('unpublish of a publication covered by a foreign mount takes both off: no mount is left that nothing counts', async () => {
    await mkdir(join(sandbox.dir, 'foreign-unpublish'));
    const covered = await publish('covered-unpublish', 'd001');
    await execa('mount', ['--bind', '--', join(sandbox.dir, 'foreign-unpublish'), covered.target]);
    expect(await manager.unpublish(covered.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect((await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint === covered.target)).toEqual([]);
    expect(await manager.list()).toEqual([]);
  });

  it('drops the reference when another directory of the share is bind-mounted at its target in its place', async () => {
    await mkdir(join(sandbox.source, 'swapped', 'mine'), { recursive: true });
    await mkdir(join(sandbox.source, 'swapped', 'theirs'));
    const holder = await publish('holder', 'd000');
    const mine = await publish('mine', 'swapped/mine');
    await execa('umount', [mine.target]);
    await execa('mount', ['--bind', '--', join(holder.sharePath, 'swapped', 'theirs'), mine.target]);
    try {
      expect(await manager.reconcile()).toMatchObject({ droppedReferences: [{ share: mine.shareKey, target: mine.target, reason: expect.any(String) }] });
      expect(await manager.unpublish(mine.target)).toEqual({ unpublished: false, shareUnmounted: false });
      expect((await mountsUnder(sandbox.dir)).some((m) => m.mountPoint === mine.target)).toBe(true); // not ours: left alone
    } finally {
      await execa('umount', [mine.target]);
    }
  });

  it('reconcile({ share }) repairs that share alone, from the lines of its own filesystem', async () => {
    const keep = await publish('keep', 'd000');
    const gone = await publish('gone', 'd001');
    const orphan = await publish('orphan', 'd002');
    // Another share on another filesystem (a tmpfs as the bind source), and unrelated mounts of a third.
    const other = join(sandbox.dir, `other-${caseNumber}`);
    const unrelated = join(sandbox.dir, `unrelated-${caseNumber}`);
    for (const dir of [other, unrelated]) {
      await mkdir(dir);
      await execa('mount', ['-t', 'tmpfs', 'tmpfs', dir]);
    }
    try {
      for (let i = 0; i < 20; i++) {
        await mkdir(join(unrelated, `m${i}`));
        await execa('mount', ['--bind', join(unrelated, `m${i}`), join(unrelated, `m${i}`)]);
      }
      await mkdir(join(other, 'data'));
      const elsewhere = await manager.publish({ source: { backend: 'bind', path: other } as Source, subPath: 'data', target: join(pods, 'elsewhere') });
      // Damage to both shares: a publication gone and one unrecorded in the first, a publication gone in the other.
      await execa('umount', [gone.target]);
      await state.removeRef(orphan.shareKey, orphan.target); // its index entry still names the share
      await execa('umount', [elsewhere.target]);

      const report = await manager.reconcile({ share: keep.shareKey });
      expect(report).toEqual({
        ...nothing,
        sharesChecked: 1,
        droppedReferences: [{ share: keep.shareKey, target: gone.target, reason: 'publication not found in the mount table' }],
        adoptedPublications: [{ share: keep.shareKey, target: orphan.target }],
      });
      // The other share is not touched: its reference without a publication is still there.
      expect(await state.readRef(elsewhere.shareKey, elsewhere.target)).toMatchObject({ target: elsewhere.target });
      expect((await manager.reconcile({ share: keep.shareKey })).droppedReferences).toEqual([]);

      const all = await manager.reconcile();
      expect(all.droppedReferences).toEqual([{ share: elsewhere.shareKey, target: elsewhere.target, reason: 'publication not found in the mount table' }]);
      expect(all.unmountedShares).toEqual([elsewhere.shareKey]);
      // The other share's source is a mount point itself (the tmpfs), showing the same directory
      // as the share: made before the share, it is not one of its publications.
      expect(all.adoptedPublications).toEqual([]);
      await assertInvariants(manager, { pods });
    } finally {
      await unmountEverythingUnder(unrelated);
      await unmountEverythingUnder(other);
    }
  });

  it('remounts a referenced share that is not mounted (unmounted behind its back)', async () => {
    const publication = await publish('under', 'd000');
    await execa('umount', ['--lazy', publication.sharePath]);
    expect(await invariantViolations(manager, { pods })).toEqual([expect.stringMatching(/share referenced \(1\) but not mounted/)]);

    await reconciled({ remountedShares: [publication.shareKey] });
    expect((await mountsUnder(publication.sharePath)).length).toBe(1);
  });

  it('drops dangling and garbage `_targets` entries, and unreadable reference records', async () => {
    const publication = await publish('live', 'd000');
    const root = await manager.root();
    await state.writeIndex(join(pods, 'no-reference'), publication.shareKey);
    await state.writeIndex(join(pods, 'no-share'), 'bind/path/nowhere/opts/%');
    await symlink('../../etc', join(root, '_targets', encodeComponent(join(pods, 'garbage'))));
    const refs = join(root, publication.shareKey, 'refs');
    await writeFile(join(refs, `${encodeComponent(join(pods, 'torn'), 250)}.json`), '{"version":1,"tar');
    // The checker sees each kind of debris: the torn record, the garbage entry, entries without a reference.
    expect(await invariantViolations(manager, { pods })).toEqual(expect.arrayContaining([
      expect.stringMatching(/^unreadable reference record: /),
      expect.stringMatching(/^index entry with no valid share key: _targets\//),
      `index has 2 entries for ${publication.shareKey} but only 1 references`,
    ]));

    const report = await manager.reconcile();
    expect(report.droppedIndexEntries).toBe(3);
    expect(report.droppedReferences).toEqual([{ share: publication.shareKey, target: undefined, reason: 'unreadable reference record' }]);
    await assertInvariants(manager, { pods });
    expect((await state.listIndex()).map((entry) => entry.key)).toEqual([publication.shareKey]);
    expect(await readdir(refs)).toEqual([`${encodeComponent(publication.target, 250)}.json`]);
  });

  it('keeps a record that was unreadable when listed but is valid under the lock (a publish racing reconcile)', async () => {
    const publication = await publish('raced', 'd002');
    const root = await manager.root();
    const file = join(root, publication.shareKey, 'refs', `${encodeComponent(publication.target, 250)}.json`);
    const valid = await readFile(file, 'utf8');
    await writeFile(file, '{"version":1,"tar'); // what reconcile's unlocked listing sees
    // Hold the share's lock as another process would, so reconcile lists the refs, then waits.
    const other = await rootLockAsAnotherProcess(root);
    let reconciling: Promise<ReconcileReport> | undefined;
    await other.withLock(`share:${publication.shareKey}`, async () => {
      reconciling = manager.reconcile();
      await sleep(500); // let it list and block on the lock (if slower, the case proves nothing but cannot fail)
      await writeFile(`${file}.new`, valid);
      await rename(`${file}.new`, file); // the record is whole again before reconcile gets the lock
    });
    const report = await reconciling!;
    expect(report.droppedReferences).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe(valid);
    await assertInvariants(manager, { pods });
  });

  it('keeps an index entry that was garbage when listed but is valid under the target lock', async () => {
    const publication = await publish('raced-index', 'd003');
    const root = await manager.root();
    const entry = join(root, '_targets', encodeComponent(publication.target));
    await unlink(entry);
    await symlink('../../not-a-key', entry); // what reconcile's unlocked listing sees
    const other = await rootLockAsAnotherProcess(root);
    let reconciling: Promise<ReconcileReport> | undefined;
    await other.withLock(`target:${publication.target}`, async () => {
      reconciling = manager.reconcile();
      await sleep(500); // let it list the index and block on the target's lock
      await symlink(publication.shareKey, `${entry}.new`);
      await rename(`${entry}.new`, entry); // a publish has written the entry again
    });
    const report = await reconciling!;
    expect(report.droppedIndexEntries).toBe(0);
    expect(await state.readIndex(publication.target)).toBe(publication.shareKey);
    await assertInvariants(manager, { pods });
    expect(await manager.unpublish(publication.target)).toEqual({ unpublished: true, shareUnmounted: true });
  });

  it('a reference record half-written by a killed process (its temp file) does not wedge the share', async () => {
    // a record is written as `<record>.json.<n>` and renamed; SIGKILL between the two leaves it.
    const publication = await publish('torn-write', 'd001');
    const refs = join(await manager.root(), publication.shareKey, 'refs');
    await writeFile(join(refs, `${encodeComponent(join(pods, 'other'), 250)}.json.2895021144`), '{"version":1,"tar');

    expect(await manager.reconcile()).toMatchObject(nothing);
    expect(await manager.unpublish(publication.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await manager.list()).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('a first reference cut short by a kill (written in place) counts as absent: publish and unpublish of its target go on', async () => {
    // publish claims the target's index entry, then writes its first reference in place: a kill
    // during that write leaves the entry and a record that does not parse, and nothing mounted.
    const holder = await publish('holder', 'd000');
    const refs = join(await manager.root(), holder.shareKey, 'refs');
    const cut = join(pods, 'cut');
    await mkdir(cut);
    const leaveCutRecord = async () => {
      expect(await state.claimIndex(cut, holder.shareKey)).toBe(true);
      await writeFile(join(refs, `${encodeComponent(cut, 250)}.json`), '{"version":1,"target":"/po');
    };

    await leaveCutRecord();
    expect(await manager.unpublish(cut, { removeTarget: false })).toEqual({ unpublished: false, shareUnmounted: false });
    expect(await readdir(refs)).toEqual([`${encodeComponent(holder.target, 250)}.json`]);
    expect(await state.readIndex(cut)).toBeUndefined();
    await assertInvariants(manager, { pods });

    await leaveCutRecord();
    const again = await publish('cut', 'd001');
    expect(await state.readRef(holder.shareKey, cut)).toMatchObject({ target: cut, subPath: 'd001' });
    await assertInvariants(manager, { pods });
    expect(await manager.unpublish(again.target)).toEqual({ unpublished: true, shareUnmounted: false });
    expect(await manager.unpublish(holder.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});
