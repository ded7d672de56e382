import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeComponent } from '../../src/escape.js';
import { StateStore, type RefRecord } from '../../src/state.js';

// Reference records on a plain directory: no mounts, no root needed.
describe('StateStore: reference records', () => {
  let root: string;
  let state: StateStore;
  const key = 'nfs/server/a/opts/%';
  const target = '/var/lib/kubelet/pods/p/volumes/sharemount~nfs/data';
  const ref: RefRecord = { version: 1, target, subPath: 'a/b', readOnly: false, strategy: 'bind', createdTarget: false, publishedAt: '2026-11-23T00:00:00.000Z' };
  const refsDir = () => join(root, key, 'refs');
  const file = () => join(refsDir(), `${encodeComponent(target, 250)}.json`);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'sharemount-refs-'));
    state = new StateStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('createRef writes a first reference in place, making the refs directory, with no temp file', async () => {
    await state.createRef(key, ref);
    expect(await state.readRef(key, target)).toEqual(ref);
    expect(await readdir(refsDir())).toEqual([`${encodeComponent(target, 250)}.json`]);
  });

  it('createRef replaces a reference already there (atomically, as writeRef does)', async () => {
    await state.createRef(key, ref);
    await state.createRef(key, { ...ref, subPath: 'c' });
    expect(await state.readRef(key, target)).toEqual({ ...ref, subPath: 'c' });
    expect(await readdir(refsDir())).toHaveLength(1);
  });

  it('readRef takes a record cut short (a first write killed midway) for absent, and hasRefs still counts it', async () => {
    await state.createRef(key, ref);
    const whole = await readFile(file(), 'utf8');
    for (const torn of ['', whole.slice(0, 1), whole.slice(0, whole.length - 3), '{"version":2}']) {
      await writeFile(file(), torn);
      expect(await state.readRef(key, target)).toBeUndefined();
      // Until unpublish or reconcile removes it, the share is not released under it.
      expect(await state.hasRefs(key)).toBe(true);
    }
  });

  it("keeps the published directory's inode, a decimal of up to 20 digits (64-bit NFS file ids), and reads a record without one", async () => {
    const withInode = { ...ref, directoryInode: '18446744073709551615' };
    await state.createRef(key, withInode);
    expect(await state.readRef(key, target)).toEqual(withInode);
    await state.writeRef(key, ref);
    expect(await state.readRef(key, target)).toEqual(ref);
    for (const directoryInode of ['', '-1', '1e9', '123456789012345678901']) {
      await writeFile(file(), JSON.stringify({ ...ref, directoryInode }));
      expect(await state.readRef(key, target)).toBeUndefined();
    }
  });
});
