/**
 * Invariants 1 and 2 on real mounts: many publications of one source share one mount; the last
 * unpublish removes it; option order and duplicates do not matter, option sets do; read-only
 * is enforced by the kernel; every operation is idempotent by target.
 */
import { access, mkdir, readFile, readlink, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { SharemountError } from '../../src/errors.js';
import { assertInvariants } from '../helpers/invariants.js';
import { fingerprint, changedOrRemoved } from '../helpers/fingerprint.js';
import { createSandbox, entriesOf, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();

describe.skipIf(skip)('core: one share per source and option set', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let subdirs: string[];
  const bind = (path: string) => ({ backend: 'bind', path });

  beforeAll(async () => {
    sandbox = await createSandbox();
    subdirs = await seedSourceTree(sandbox.source, 200);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
  });

  afterEach(async () => {
    // Whatever a test left (even a failing one): no publication, no share, under this sandbox.
    for (const share of await manager.list()) {
      for (const publication of share.publications) await manager.unpublish(publication.target).catch(() => {});
    }
    await unmountEverythingUnder(sandbox.dir);
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  const shareMounts = async () => (await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'));
  const podMounts = async () => mountsUnder(sandbox.pods);

  it('200 publications of sub-directories share exactly one mount, and 200 unpublishes remove it all', async () => {
    const before = await fingerprint(sandbox.source);
    const publications = [];
    for (const [i, subPath] of subdirs.entries()) {
      publications.push(await manager.publish({ source: bind(sandbox.source), subPath, readOnly: i % 4 === 0, target: join(sandbox.pods, `pod-${i}`) }));
    }
    expect(new Set(publications.map((p) => p.shareKey)).size).toBe(1);
    expect(await shareMounts()).toHaveLength(1);
    expect((await shareMounts())[0]!.mountPoint).toBe(publications[0]!.sharePath);
    expect(await podMounts()).toHaveLength(200);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(201);
    const [share] = await manager.list();
    expect(share!.publications).toHaveLength(200);
    expect(await readFile(join(sandbox.pods, 'pod-7', 'data.txt'), 'utf8')).toBe('contents of d007\n');
    await assertInvariants(manager, { pods: sandbox.pods });

    const shareDir = publications[0]!.sharePath.replace(/\/mnt$/, '');
    for (const [i, publication] of publications.entries()) {
      const result = await manager.unpublish(publication.target);
      expect(result).toEqual({ unpublished: true, shareUnmounted: i === publications.length - 1 });
    }
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    await expect(access(shareDir)).rejects.toThrow(/ENOENT/);
    expect(await manager.list()).toEqual([]);
    expect(await entriesOf(sandbox.pods)).toEqual([]); // the targets it created are gone too
    expect(changedOrRemoved(before, await fingerprint(sandbox.source))).toEqual([]);
  });

  it('equal option sets in any order or duplication share one mount; different sets do not', async () => {
    const spellings = ['nosuid,nodev', 'nodev,nosuid,nodev', ['nodev', 'nosuid'], ' nosuid , nodev,', ['nosuid', 'nodev', 'nosuid']];
    const keys = new Set<string>();
    for (const [i, options] of spellings.entries()) {
      const publication = await manager.publish({ source: bind(sandbox.source), options, subPath: subdirs[i], target: join(sandbox.pods, `same-${i}`) });
      keys.add(publication.shareKey);
    }
    expect(keys.size).toBe(1);
    expect(await shareMounts()).toHaveLength(1);
    // shareKeyOf names the same share from a whole request, whose other fields it ignores.
    const whole = { source: bind(sandbox.source), options: spellings[1]!, subPath: 'elsewhere', target: '/not/looked/at', readOnly: true };
    expect(await manager.shareKeyOf(whole)).toBe([...keys][0]);
    const [mount] = await shareMounts();
    expect(mount!.mountOptions).toEqual(expect.arrayContaining(['nosuid', 'nodev']));

    const others = [['nosuid'], ['nodev'], ['nosuid', 'nodev', 'noexec'], []];
    for (const [i, options] of others.entries()) {
      const publication = await manager.publish({ source: bind(sandbox.source), options, subPath: subdirs[i], target: join(sandbox.pods, `other-${i}`) });
      keys.add(publication.shareKey);
    }
    expect(keys.size).toBe(1 + others.length);
    expect(await shareMounts()).toHaveLength(1 + others.length);
    await assertInvariants(manager, { pods: sandbox.pods });

    const exec = (await manager.list()).find((s) => s.options.includes('noexec'))!;
    expect((await mountsUnder(exec.mountPoint))[0]!.mountOptions).toContain('noexec');
  });

  it('read-only publications refuse writes (EROFS) and writable ones accept them', async () => {
    const ro = await manager.publish({ source: bind(sandbox.source), subPath: 'd010', readOnly: true, target: join(sandbox.pods, 'ro') });
    const rw = await manager.publish({ source: bind(sandbox.source), subPath: 'd011', target: join(sandbox.pods, 'rw') });
    expect(ro.shareKey).toBe(rw.shareKey); // read-only is per publication, not per share
    await expect(writeFile(join(ro.target, 'new.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(writeFile(join(ro.target, 'data.txt'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect(await readFile(join(ro.target, 'data.txt'), 'utf8')).toBe('contents of d010\n');
    await writeFile(join(rw.target, 'new.txt'), 'written through the publication');
    expect(await readFile(join(sandbox.source, 'd011', 'new.txt'), 'utf8')).toBe('written through the publication');
    await unlink(join(sandbox.source, 'd011', 'new.txt'));
    expect((await mountsUnder(ro.target))[0]!.mountOptions).toContain('ro');
    expect((await mountsUnder(rw.target))[0]!.mountOptions).toContain('rw');
    await assertInvariants(manager, { pods: sandbox.pods });
  });

  it('symlink publications point into the share and mount nothing at the target', async () => {
    const link = await manager.publish({ source: bind(sandbox.source), subPath: 'd020', strategy: 'symlink', target: join(sandbox.pods, 'link') });
    expect(await readlink(link.target)).toBe(link.path);
    expect(link.path).toBe(`${link.sharePath}/d020`);
    expect(await readFile(join(link.target, 'data.txt'), 'utf8')).toBe('contents of d020\n');
    expect(await podMounts()).toEqual([]);
    expect(await shareMounts()).toHaveLength(1);
    await assertInvariants(manager, { pods: sandbox.pods });
    expect(await manager.unpublish(link.target)).toEqual({ unpublished: true, shareUnmounted: true });
    await expect(stat(link.target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('names a target given through a symlinked parent by its real path, and finds it again either way', async () => {
    const real = join(sandbox.pods, 'real-parent');
    const linked = join(sandbox.pods, 'linked-parent');
    await mkdir(real);
    await symlink(real, linked);
    try {
      const publication = await manager.publish({ source: bind(sandbox.source), subPath: subdirs[0], target: join(linked, 'vol') });
      expect(publication.target).toBe(join(real, 'vol')); // what the kernel shows in mountinfo
      expect((await podMounts()).map((m) => m.mountPoint)).toEqual([join(real, 'vol')]);
      expect(await manager.shareKeyAt(join(linked, 'vol'))).toBe(publication.shareKey);
      expect(await manager.publish({ source: bind(sandbox.source), subPath: subdirs[0], target: join(real, 'vol') })).toEqual(publication);
      expect(await manager.unpublish(join(linked, 'vol'))).toEqual({ unpublished: true, shareUnmounted: true });
      expect(await mountsUnder(sandbox.dir)).toEqual([]);
    } finally {
      await unlink(linked);
    }
  });

  it('unpublishes even when the target directory cannot be removed (its parent read-only), leaving the directory', async () => {
    const parent = join(sandbox.dir, 'ro-parent');
    await mkdir(parent);
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', parent]);
    try {
      const target = join(parent, 'vol');
      await mkdir(target);
      await manager.publish({ source: bind(sandbox.source), subPath: 'd040', target });
      await execa('mount', ['-o', 'remount,ro', parent]);
      expect(await manager.unpublish(target)).toEqual({ unpublished: true, shareUnmounted: true });
      expect((await stat(target)).isDirectory()).toBe(true); // rmdir failed with EROFS: left in place
      expect(await manager.list()).toEqual([]);
      expect(await mountsUnder(sandbox.root)).toEqual([]);
    } finally {
      await execa('umount', ['--lazy', parent]);
    }
  });

  it('a state root that cannot be created says why (a read-only filesystem), naming the root', async () => {
    const ro = join(sandbox.dir, 'ro-fs');
    await mkdir(ro);
    await execa('mount', ['-t', 'tmpfs', '-o', 'ro', 'tmpfs', ro]);
    try {
      const unusable = new MountManager({ root: join(ro, 'state', 'deeper'), backends: [bindBackend({ allowedPaths: ['/'] })] });
      await expect(unusable.publish({ source: bind(sandbox.source), subPath: 'd041', target: join(sandbox.pods, 'never') })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        field: 'root',
        message: expect.stringMatching(/state root .* cannot be created \(EROFS\)/),
      });
    } finally {
      await execa('umount', [ro]);
    }
  });

  it('a state root under /proc fails at once naming the root (a recursive mkdir there never returns)', async () => {
    for (const root of ['/proc/sharemount-state/deeper', '/proc/self/sharemount']) {
      const unusable = new MountManager({ root, backends: [bindBackend({ allowedPaths: ['/'] })] });
      await expect(unusable.publish({ source: bind(sandbox.source), subPath: 'd041', target: join(sandbox.pods, 'never') })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        field: 'root',
        message: expect.stringMatching(/state root .* cannot be created/),
      });
    }
    await expect(stat(join(sandbox.pods, 'never'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is idempotent by target: a repeat adds nothing, a different request is ALREADY_EXISTS', async () => {
    const target = join(sandbox.pods, 'idem');
    const request = { source: bind(sandbox.source), options: 'nosuid', subPath: 'd030', readOnly: true, target };
    const first = await manager.publish(request);
    const mountsAfterFirst = await mountsUnder(sandbox.dir);
    expect(await manager.publish({ ...request, options: ['nosuid', 'nosuid'] })).toEqual(first);
    expect(await mountsUnder(sandbox.dir)).toEqual(mountsAfterFirst);

    const different = [
      { ...request, subPath: 'd031' },
      { ...request, readOnly: false },
      { ...request, options: 'nodev' },
      { ...request, source: bind(join(sandbox.source, 'd032')), subPath: '' },
      { ...request, readOnly: false, strategy: 'symlink' as const },
    ];
    for (const attempt of different) {
      const error = await manager.publish(attempt).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SharemountError);
      expect(error).toMatchObject({ code: 'ALREADY_EXISTS', field: 'target' });
    }
    expect(await mountsUnder(sandbox.dir)).toEqual(mountsAfterFirst);
    await assertInvariants(manager, { pods: sandbox.pods });

    expect(await manager.unpublish(target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await manager.unpublish(target)).toEqual({ unpublished: false, shareUnmounted: false });
    expect(await manager.unpublish(join(sandbox.pods, 'never-published'))).toEqual({ unpublished: false, shareUnmounted: false });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it("keeps a publication's label: returned by publicationAt and list, compared on a repeat (an unlabeled one matches any)", async () => {
    const target = join(sandbox.pods, 'labelled');
    const request = { source: bind(sandbox.source), subPath: 'd040', target, label: 'volume-a' };
    const first = await manager.publish(request);
    expect(first.label).toBe('volume-a');
    expect(await manager.publicationAt(target)).toEqual(first);
    expect(await manager.publicationAt(join(sandbox.pods, 'never-published'))).toBeUndefined();
    expect((await manager.list())[0]!.publications).toEqual([first]);
    expect(await manager.publish(request)).toEqual(first);
    await expect(manager.publish({ ...request, label: 'volume-b' })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', field: 'target', message: expect.stringContaining('different label') });
    await expect(manager.publish({ ...request, label: 'x'.repeat(1025) })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'label' });
    await manager.unpublish(target);

    const unlabeled = await manager.publish({ ...request, label: undefined });
    expect(unlabeled).not.toHaveProperty('label');
    expect(await manager.publish(request)).toEqual(unlabeled);
    await manager.unpublish(target);
  });
});
