/**
 * Invariant 10 with real bind mounts: the state root, a source and a target are compared by
 * what the kernel says they are, so another path to the root (a bind mount of its parent, or of
 * a directory inside it, attached elsewhere) reaches neither the root's records nor its key.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();

describe.skipIf(skip)('identity, not path strings: another path to the state root', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  /** A bind mount of the sandbox, the root's parent: `<alias>/root` is the state root. */
  let alias: string;
  /** A bind mount of a directory inside the root, attached outside it. */
  let inner: string;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-identity-');
    await seedSourceTree(sandbox.source, 2);
    // Any host directory but the state root (the opt-in of a driver whose volumes an administrator writes).
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    await manager.root(); // makes the root and its key
    await mkdir(join(sandbox.root, 'inside'));
    alias = join(sandbox.dir, 'alias');
    inner = join(sandbox.dir, 'inner');
    await Promise.all([mkdir(alias), mkdir(inner)]);
    await execa('mount', ['--bind', sandbox.dir, alias]);
    await execa('mount', ['--bind', join(sandbox.root, 'inside'), inner]);
  });
  afterAll(() => sandbox?.cleanup());

  const bind = (path: string) => ({ backend: 'bind', path });

  it.each([
    ['the root through its parent\'s alias', () => join(alias, 'root')],
    ['a directory above the root (the alias of its parent)', () => alias],
    ['a directory inside the root, bind-mounted elsewhere', () => inner],
  ])('a source.path that is %s is refused, nothing mounted', async (_, path) => {
    const before = await mountsUnder(sandbox.dir);
    const error = await manager.publish({ source: bind(path()), subPath: '', target: join(sandbox.pods, 'leak') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'source.path', message: expect.stringMatching(/state root/) });
    expect(await mountsUnder(sandbox.dir)).toEqual(before);
    await expect(stat(join(sandbox.pods, 'leak'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each([
    ['inside the root, through its parent\'s alias', () => join(alias, 'root', 'pod')],
    ['the root itself, through its parent\'s alias', () => join(alias, 'root')],
    ['inside a directory of the root bind-mounted elsewhere', () => join(inner, 'pod')],
  ])('a target %s is refused, nothing made there', async (_, target) => {
    const before = await mountsUnder(sandbox.dir);
    const rootBefore = (await readdir(sandbox.root)).sort();
    const error = await manager.publish({ source: bind(sandbox.source), subPath: 'd000', target: target() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'target' });
    expect(await mountsUnder(sandbox.dir)).toEqual(before);
    expect((await readdir(sandbox.root)).sort()).toEqual(rootBefore);
  });

  it('a shim\'s own target (CSI NodePublishVolume\'s target_path) is checked the same way, under its own field', async () => {
    await expect(manager.checkTargetPlace(join(alias, 'root', 'x'), 'target_path')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'target_path' });
    await expect(manager.checkTargetPlace(join(sandbox.pods, 'fine'), 'target_path')).resolves.toBeUndefined();
  });

  it('allowedPaths are compared by identity too: the allowed directory reached by another path is allowed, a sibling is not', async () => {
    const allowed = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: [join(alias, 'src')] })] });
    const target = join(sandbox.pods, 'allowed');
    await allowed.publish({ source: bind(sandbox.source), subPath: 'd000', target });
    expect((await mountsUnder(target)).length).toBe(1);
    await allowed.unpublish(target);
    const outside = join(sandbox.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'f'), 'x');
    await expect(allowed.publish({ source: bind(outside), subPath: '', target })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'source.path' });
    expect(await mountsUnder(join(sandbox.pods))).toEqual([]);
  });

  it('a sub-path that leads through a mount inside the share into (or above) the root is refused; one through a harmless mount publishes', async () => {
    // The source on a shared mount: the share, a bind mount of it, is its peer, so a mount made
    // under the source later (an administrator's bind of /var/lib, say) shows inside the share too.
    const source = join(sandbox.dir, 'shared-source');
    await mkdir(join(source, 'data'), { recursive: true });
    await execa('mount', ['--bind', source, source]);
    await execa('mount', ['--make-shared', source]);
    const first = join(sandbox.pods, 'first');
    try {
      await manager.publish({ source: bind(source), subPath: 'data', target: first });
      const nested = join(source, 'nested');
      const harmless = join(source, 'harmless');
      const elsewhere = join(sandbox.dir, 'elsewhere');
      await Promise.all([mkdir(nested), mkdir(harmless), mkdir(elsewhere)]);
      await execa('mount', ['--bind', sandbox.dir, nested]); // another path to the root's parent
      await execa('mount', ['--bind', elsewhere, harmless]);
      const before = await mountsUnder(sandbox.pods);
      for (const subPath of ['nested/root', 'nested/root/inside', 'nested']) {
        const target = join(sandbox.pods, `through-${subPath.replaceAll('/', '-')}`);
        const error = await manager.publish({ source: bind(source), subPath, target }).catch((e: unknown) => e);
        expect(error, subPath).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'subPath', message: expect.stringMatching(/state root/) });
        await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
      }
      expect(await mountsUnder(sandbox.pods)).toEqual(before);
      const fine = join(sandbox.pods, 'through-harmless');
      await manager.publish({ source: bind(source), subPath: 'harmless', target: fine });
      expect((await stat(fine)).ino).toBe((await stat(elsewhere)).ino);
      expect(await manager.unpublish(fine)).toMatchObject({ unpublished: true });
      await execa('umount', [nested]);
      await execa('umount', [harmless]);
    } finally {
      await manager.unpublish(first);
      await execa('umount', ['-R', source]);
    }
    expect(await mountsUnder(sandbox.root)).toEqual([]);
  });

  it('an ordinary source and target next to the root still publish', async () => {
    const target = join(sandbox.pods, 'ordinary');
    await manager.publish({ source: bind(sandbox.source), subPath: 'd001', target });
    expect((await mountsUnder(target)).length).toBe(1);
    await manager.unpublish(target);
    expect(await mountsUnder(sandbox.root)).toEqual([]);
  });
});
