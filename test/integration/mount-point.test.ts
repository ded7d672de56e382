import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isMountPoint } from '../../src/mount-point.js';
import { mount, unmount } from '../../src/mount-command.js';
import { createSandbox, type Sandbox } from '../../src/testing/index.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await createSandbox();
  await mkdir(join(sandbox.dir, 'src/inner'), { recursive: true });
  await mkdir(join(sandbox.dir, 'plain'));
  await mkdir(join(sandbox.dir, 'bound'));
  await symlink(join(sandbox.dir, 'bound'), join(sandbox.dir, 'link'));
  // A bind mount of a directory of the same filesystem: st_dev equals the parent's.
  await mount({ bind: true, source: join(sandbox.dir, 'src'), target: join(sandbox.dir, 'bound') }, 5_000);
});
afterAll(() => sandbox.cleanup());

describe('isMountPoint', () => {
  it('sees a bind mount of the same filesystem', async () => {
    expect(await isMountPoint(join(sandbox.dir, 'bound'))).toBe(true);
  });
  it('says no for a plain directory and for a directory inside a mount', async () => {
    expect(await isMountPoint(join(sandbox.dir, 'plain'))).toBe(false);
    expect(await isMountPoint(join(sandbox.dir, 'bound/inner'))).toBe(false);
  });
  it('never follows a symlink to a mount point', async () => {
    expect(await isMountPoint(join(sandbox.dir, 'link'))).toBe(false);
  });
  it('unmount reports "not mounted" for a path with nothing mounted', async () => {
    expect(await unmount(join(sandbox.dir, 'plain'), 5_000)).toBe('not-mounted');
    expect(await unmount(join(sandbox.dir, 'missing'), 5_000)).toBe('not-mounted');
    expect(await unmount(join(sandbox.dir, 'bound'), 5_000)).toBe('unmounted');
    expect(await isMountPoint(join(sandbox.dir, 'bound'))).toBe(false);
  });
});
