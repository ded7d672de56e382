import { lstat, mkdtemp, readdir, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeComponent } from '../../src/escape.js';
import { StateStore } from '../../src/state.js';

// The target index on a plain directory: no mounts, no root needed.
describe('StateStore: the target index', () => {
  let root: string;
  let state: StateStore;
  const target = '/var/lib/kubelet/pods/p/volumes/sharemount~nfs/data';
  const entry = () => join(root, '_targets', encodeComponent(target));

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sharemount-state-'));
    state = new StateStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('claimIndex records a free target (making _targets on the first call) and says so', async () => {
    expect(await state.claimIndex(target, 'nfs/server/a/opts/%')).toBe(true);
    expect(await readlink(entry())).toBe('nfs/server/a/opts/%');
    expect(await state.readIndex(target)).toBe('nfs/server/a/opts/%');
  });

  it('claimIndex leaves an existing entry as it is, whatever it says, and says so', async () => {
    await state.claimIndex(target, 'nfs/server/a/opts/%');
    expect(await state.claimIndex(target, 'bind/path/b/opts/%')).toBe(false);
    expect(await state.readIndex(target)).toBe('nfs/server/a/opts/%');
    await rm(entry());
    await symlink('../../etc', entry()); // garbage: not a share key
    expect(await state.claimIndex(target, 'bind/path/b/opts/%')).toBe(false);
    expect(await state.readIndex(target)).toBeUndefined();
  });

  it('writeIndex replaces an existing entry atomically and leaves no temp name behind', async () => {
    await state.claimIndex(target, 'nfs/server/a/opts/%'); // the entry to replace
    await symlink('../../etc', join(root, '_targets', 'unrelated')); // another entry, left alone
    await state.writeIndex(target, 'bind/path/b/opts/%');
    expect(await state.readIndex(target)).toBe('bind/path/b/opts/%');
    expect((await lstat(entry())).isSymbolicLink()).toBe(true);
    expect((await readdir(join(root, '_targets'))).sort()).toEqual([encodeComponent(target), 'unrelated'].sort());
  });
});
