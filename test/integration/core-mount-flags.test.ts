/**
 * Read-only bind mounts keep the restrictions of what they copy. util-linux 2.38 makes a bind
 * mount with options in two steps (bind, then a remount that sets exactly the flags it is
 * given), so without care a read-only publication of a `nosuid,nodev,noexec` share, or a bind
 * share with options of a `noexec` source, would lose those flags.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { assertInvariants } from '../helpers/invariants.js';
import { createSandbox, entriesOf, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();

describe.skipIf(skip)('core: read-only bind mounts keep the restrictions of what they copy', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let restricted: string; // a tmpfs source mounted nosuid,nodev,noexec
  let mountsBefore: Awaited<ReturnType<typeof mountsUnder>>; // the sandbox's own mounts, before any test
  const bind = (path: string) => ({ backend: 'bind', path });
  const optionsAt = async (path: string) => (await mountsUnder(sandbox.dir)).findLast((m) => m.mountPoint === path)?.mountOptions ?? [];

  beforeAll(async () => {
    sandbox = await createSandbox();
    await seedSourceTree(sandbox.source, 2);
    restricted = join(sandbox.dir, 'restricted');
    await mkdir(restricted);
    await execa('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec', 'tmpfs', restricted]);
    await mkdir(join(restricted, 'd'));
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    mountsBefore = await mountsUnder(sandbox.dir);
  });

  afterEach(async () => {
    for (const share of await manager.list()) for (const p of share.publications) await manager.unpublish(p.target).catch(() => {});
    await unmountEverythingUnder(sandbox.root);
    await unmountEverythingUnder(sandbox.pods);
  });

  afterAll(async () => {
    if (sandbox) await unmountEverythingUnder(sandbox.dir);
    await sandbox?.cleanup();
  });

  it("a read-only publication keeps the share's nosuid, nodev and noexec", async () => {
    const [rw, ro] = [join(sandbox.pods, 'rw'), join(sandbox.pods, 'ro')];
    await Promise.all([mkdir(rw), mkdir(ro)]);
    const share = { source: bind(sandbox.source), options: 'nosuid,nodev,noexec', subPath: 'd000' };
    await manager.publish({ ...share, target: rw });
    const published = await manager.publish({ ...share, target: ro, readOnly: true });
    expect(await optionsAt(published.sharePath)).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']));
    expect(await optionsAt(rw)).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']));
    expect(await optionsAt(ro)).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    await assertInvariants(manager, { pods: sandbox.pods });
  });

  it("a bind share with options keeps its source mount's restrictions, and so do its read-only publications", async () => {
    const target = join(sandbox.pods, 'from-restricted');
    await mkdir(target);
    // `rw` and `exec` asked for: a share is never less restricted than its source.
    const published = await manager.publish({ source: bind(restricted), options: 'ro,exec', subPath: 'd', target, readOnly: true });
    expect(await optionsAt(published.sharePath)).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
    expect(await optionsAt(target)).toEqual(expect.arrayContaining(['ro', 'nosuid', 'nodev', 'noexec']));
  });

  it('reconcile gives a read-only publication that lost a restriction its flags back', async () => {
    const target = join(sandbox.pods, 'lost');
    await mkdir(target);
    const published = await manager.publish({ source: bind(sandbox.source), options: 'nosuid,noexec', subPath: 'd001', target, readOnly: true });
    // The publication as a plain `mount --bind -o ro` makes it (what earlier versions did).
    await execa('umount', [target]);
    await execa('mount', ['--bind', '-o', 'ro', '--', join(published.sharePath, 'd001'), target]);
    expect(await optionsAt(target)).not.toContain('nosuid');
    const report = await manager.reconcile();
    expect(report.repairedReadOnly).toEqual([{ share: published.shareKey, target }]);
    expect(await optionsAt(target)).toEqual(expect.arrayContaining(['ro', 'nosuid', 'noexec']));
  });

  it("flags recorded for an earlier mount of the share are not copied by the publication that mounts it again", async () => {
    const target = join(sandbox.pods, 'remounted');
    await mkdir(target);
    const request = { source: bind(sandbox.source), subPath: 'd000', target, readOnly: true };
    // The record an earlier, more restricted mount of this share left (a crash before its removal).
    const key = await manager.shareKeyOf({ source: request.source });
    await mkdir(join(sandbox.root, key, 'mnt'), { recursive: true });
    const stale = { version: 1, key, backend: 'bind', source: request.source, options: [], hasSensitiveOptions: false, createdAt: new Date(0).toISOString(), mountFlags: ['nosuid', 'nodev', 'noexec'] };
    await writeFile(join(sandbox.root, key, 'share.json'), JSON.stringify(stale));
    const published = await manager.publish(request);
    const shareFlags = await optionsAt(published.sharePath);
    expect(shareFlags).not.toContain('noexec');
    expect(await optionsAt(target)).toEqual(expect.arrayContaining(['ro', ...shareFlags.filter((flag) => flag !== 'rw')]));
    expect(await optionsAt(target)).not.toContain('noexec');
  });

  it('a contradictory pair of flags is refused naming both, and nothing is mounted or created', async () => {
    const target = join(sandbox.pods, 'contradictory');
    await mkdir(target);
    const before = await entriesOf(sandbox.root);
    for (const [options, message] of [
      ['nosuid,suid', 'options: has both "suid" and "nosuid"'],
      ['exec,ro,noexec', 'options: has both "exec" and "noexec"'],
      ['relatime,noatime', 'options: has both "noatime" and "relatime"'],
    ] as const) {
      const refused = await manager.publish({ source: bind(sandbox.source), options, subPath: 'd000', target }).catch((error: unknown) => error);
      expect(refused, options).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options', message });
    }
    expect(await mountsUnder(sandbox.dir)).toEqual(mountsBefore);
    expect(await entriesOf(sandbox.root)).toEqual(before);
    expect(await manager.list()).toEqual([]);
  });
});
