import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { join } from 'node:path';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { mount } from '../../src/mount-command.js';
import { createSandbox, mountsUnder, type Sandbox } from '../../src/testing/index.js';

// A target that already is a mount point sharemount did not make is refused, and the share that
// publish mounted for it is released again (mounted iff referenced).
describe('core: a target that is already someone else\'s mount point', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  beforeAll(async () => {
    sandbox = await createSandbox();
    for (const dir of ['source/vol', 'other', 'pods/taken']) await mkdir(join(sandbox.dir, dir), { recursive: true });
    await mount({ bind: true, source: join(sandbox.dir, 'other'), target: join(sandbox.dir, 'pods/taken') }, 5_000);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
  });
  afterAll(() => sandbox.cleanup());

  it('is refused with ALREADY_EXISTS naming the target, and no share stays mounted', async () => {
    const error = await manager
      .publish({ source: { backend: 'bind', path: join(sandbox.dir, 'source') }, subPath: 'vol', target: join(sandbox.dir, 'pods/taken') })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ALREADY_EXISTS', field: 'target' });
    expect(await mountsUnder(sandbox.root)).toEqual([]);
    expect(await manager.list()).toEqual([]);
    // The foreign mount itself is untouched.
    expect((await mountsUnder(join(sandbox.dir, 'pods'))).map((m) => m.mountPoint)).toEqual([join(sandbox.dir, 'pods/taken')]);
  });

  it("a repeat publish finds someone else's mount where its publication was: ALREADY_EXISTS, that mount untouched, nothing of ours left", async () => {
    const target = join(sandbox.dir, 'pods/replaced');
    await mkdir(target);
    const request = { source: { backend: 'bind', path: join(sandbox.dir, 'source') }, subPath: 'vol', target };
    await manager.publish(request);
    await execa('umount', [target]);
    await mount({ bind: true, source: join(sandbox.dir, 'other'), target }, 5_000);
    const error = await manager.publish(request).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ALREADY_EXISTS', field: 'target' });
    expect(await mountsUnder(sandbox.root)).toEqual([]);
    expect(await manager.list()).toEqual([]);
    expect((await mountsUnder(target)).map((m) => m.root)).toEqual([expect.stringMatching(/other$/)]);
    await execa('umount', [target]);
  });

  it("unpublish never follows a symlink put in its target's place to another pod's publication", async () => {
    const [first, second] = [join(sandbox.dir, 'pods/first'), join(sandbox.dir, 'pods/second')];
    await Promise.all([mkdir(first), mkdir(second)]);
    const source = { backend: 'bind', path: join(sandbox.dir, 'source') };
    await manager.publish({ source, subPath: 'vol', target: first });
    await manager.publish({ source, subPath: 'vol', target: second });
    await execa('umount', [first]);
    await execa('rmdir', [first]);
    await symlink(second, first);
    expect(await manager.unpublish(first, { removeTarget: false })).toMatchObject({ unpublished: true });
    expect((await mountsUnder(join(sandbox.dir, 'pods'))).map((m) => m.mountPoint)).toContain(second);
    await unlink(first);
    expect(await manager.unpublish(second)).toEqual({ unpublished: true, shareUnmounted: true });
  });

  it('a repeat read-only publish of a publication left writable makes it read-only before handing it out', async () => {
    const target = join(sandbox.dir, 'pods/left-writable');
    await mkdir(target);
    const request = { source: { backend: 'bind', path: join(sandbox.dir, 'source') }, subPath: 'vol', target, readOnly: true };
    await manager.publish(request);
    await execa('mount', ['-o', 'remount,bind,rw', target]); // as a crash between the bind and its ro step leaves it
    await writeFile(join(target, 'probe'), 'x');
    await manager.publish(request);
    await expect(writeFile(join(target, 'probe'), 'y')).rejects.toMatchObject({ code: 'EROFS' });
    await manager.unpublish(target);
    expect(await mountsUnder(sandbox.root)).toEqual([]);
  });
});
