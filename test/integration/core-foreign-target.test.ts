import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir } from 'node:fs/promises';
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
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend()] });
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
});
