import { lstat, mkdir, readFile, readdir, rename, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nfsBackend, type NfsParameters } from '../../src/backends/nfs.js';
import { MountManager } from '../../src/mount-manager.js';
import { silentLogger } from '../../src/logger.js';
import { volumeStats } from '../../src/volume-stats.js';
import { unmount } from '../../src/mount-command.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { missingNfsPrerequisites, startNfsServer, type NfsServer } from '../helpers/nfs-server.js';
import { installMountNfsSeam, type MountNfsSeam } from '../helpers/mount-nfs-seam.js';

// Real nfs-ganesha on 127.0.0.1; the kernel NFS client is the only stand-in (the mount.nfs seam),
// so every share below is made by the library's own `mount -t nfs`.
const missing = missingNfsPrerequisites();
const suite = describe.skipIf(skipWhenMissing(missing.length > 0 ? missing.join(', ') : undefined, 'the NFS integration tests'));

suite('NFS backend against nfs-ganesha', () => {
  let sandbox: Sandbox;
  let server: NfsServer;
  let seam: MountNfsSeam;
  let manager: MountManager;
  const backend = nfsBackend();

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`NFS integration tests need: ${missing.join(', ')}`);
    sandbox = await createSandbox('sharemount-nfs-');
    server = await startNfsServer();
    seam = await installMountNfsSeam([server]);
    manager = new MountManager({ root: sandbox.root, backends: [backend], timeouts: { commandMs: 15_000 } });
  });

  afterAll(async () => {
    await sandbox?.cleanup();
    await seam?.uninstall();
    await server?.stop();
  });

  const source = () => ({ backend: 'nfs' as const, server: server.host, export: server.exportPath });
  const parameters = (extra: Record<string, unknown> = {}): NfsParameters =>
    backend.parameters.parse({ share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(','), ...extra });

  it('mounts an export with `mount -t nfs -o <options> -- server:/export <dir>`', async () => {
    const mountPoint = join(sandbox.dir, 'direct');
    await mkdir(mountPoint);
    await writeFile(join(server.exportDir, 'on-the-server'), 'hello');
    const before = (await seam.calls()).length;
    await backend.mount({ source: source(), options: server.mountOptions, sensitiveOptions: [], mountPoint, timeoutMs: 10_000, logger: silentLogger });
    try {
      const calls = (await seam.calls()).slice(before);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ program: 'mount.nfs', device: `127.0.0.1:/export`, target: mountPoint, options: `rw,port=${server.port},vers=4.1` });
      expect(await readFile(join(mountPoint, 'on-the-server'), 'utf8')).toBe('hello');
    } finally {
      await unmount(mountPoint, 10_000);
    }
  });

  it('fails like mount.nfs for an export the server does not serve, leaving nothing mounted', async () => {
    const mountPoint = join(sandbox.dir, 'missing-export');
    await mkdir(mountPoint);
    const error = await backend
      .mount({ source: { ...source(), export: '/not-exported' }, options: server.mountOptions, sensitiveOptions: [], mountPoint, timeoutMs: 10_000, logger: silentLogger })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'COMMAND_FAILED' });
    expect(String((error as Error).message)).toMatch(/No such file or directory/);
    expect(await mountsUnder(mountPoint)).toEqual([]);
  });

  it('kills a mount that hangs on a frozen server when its timeout expires', async () => {
    const mountPoint = join(sandbox.dir, 'hung');
    await mkdir(mountPoint);
    server.pause();
    try {
      const error = await backend
        .mount({ source: source(), options: server.mountOptions, sensitiveOptions: [], mountPoint, timeoutMs: 1_500, logger: silentLogger })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TIMEOUT' });
    } finally {
      server.resume();
    }
    expect(await mountsUnder(mountPoint)).toEqual([]);
  });

  it('mounts one export once for 60 sub-directory publications (one `mount -t nfs` in the argv log)', async () => {
    const before = (await seam.calls()).length;
    const targets: string[] = [];
    for (let i = 0; i < 60; i++) {
      const target = join(sandbox.pods, `many-${i}`);
      const volume = backend.toVolume(parameters({ subPath: `claims/c${i}`, createIfNecessary: 'true' }));
      await manager.publish({ ...volume, target });
      targets.push(target);
    }
    try {
      const calls = (await seam.calls()).slice(before);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.device).toBe('127.0.0.1:/export');
      const shares = (await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'));
      expect(shares).toHaveLength(1);
      expect(shares[0]?.mountPoint).toContain('/nfs/host/127.0.0.1/path/%2Fexport/opts/');
      expect(await mountsUnder(sandbox.pods)).toHaveLength(60);
      // Written through a publication, seen by the server through the NFS protocol.
      await writeFile(join(targets[7]!, 'note'), 'seven');
      expect(await server.list('claims/c7')).toEqual(['note']);
      expect(await server.list('claims')).toHaveLength(60);
    } finally {
      for (const target of targets) await manager.unpublish(target);
    }
    expect(await mountsUnder(sandbox.root)).toEqual([]);
    expect(await mountsUnder(sandbox.pods)).toEqual([]);
  });

  it('reports volume stats of a publication: the statfs of the exported filesystem', async () => {
    const target = join(sandbox.pods, 'stats');
    await manager.publish({ ...backend.toVolume(parameters({ subPath: 'stats', createIfNecessary: true })), target });
    try {
      const stats = await volumeStats(target, 5_000);
      const local = await statfs(server.exportDir);
      expect(stats.totalBytes).toBe(local.blocks * local.bsize);
      expect(stats.totalInodes).toBe(local.files);
      expect(stats.usedBytes).toBeGreaterThan(0);
      expect(stats.availableBytes).toBeLessThanOrEqual(stats.totalBytes - stats.usedBytes);
    } finally {
      await manager.unpublish(target);
    }
    await expect(volumeStats(join(sandbox.pods, 'absent'), 5_000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  describe('provisioning', () => {
    const workDir = () => join(sandbox.dir, 'controller');
    const provisioning = () => nfsBackend({ provisioner: { manager, workDir: workDir() } });
    const claim = (name: string, extra: Record<string, unknown> = {}) =>
      parameters({
        'csi.storage.k8s.io/pvc/name': name,
        'csi.storage.k8s.io/pvc/namespace': 'team-a',
        'csi.storage.k8s.io/pv/name': `pvc-${name}`,
        ...extra,
      });
    const expectNoControllerMounts = async () => {
      expect(await mountsUnder(workDir())).toEqual([]);
      expect(await mountsUnder(sandbox.root)).toEqual([]);
    };

    it('creates a named sub-directory with mode and owner, idempotently, seen through NFS', async () => {
      const b = provisioning();
      const request = { name: 'pvc-data', parameters: claim('data', { directoryMode: '0750', directoryUid: '1234', directoryGid: '2345' }), capacityBytes: 1 << 30 };
      const created = await b.createVolume(request);
      expect(created).toEqual({
        volumeId: '127.0.0.1#/export#team-a-data-pvc-data',
        capacityBytes: 1 << 30,
        context: { server: '127.0.0.1', share: '/export', subPath: 'team-a-data-pvc-data', mountOptions: server.mountOptions.toSorted().join(',') },
      });
      expect((await server.listLong()).get('team-a-data-pvc-data')).toEqual({ mode: 'drwxr-x---', uid: 1234, gid: 2345 });
      expect(await b.createVolume(request)).toEqual(created);
      await expectNoControllerMounts();
      // The context publishes the volume as it is.
      const target = join(sandbox.pods, 'provisioned');
      const publication = await manager.publish({ ...b.toVolume(b.parameters.parse(created.context)), target });
      expect(publication.subPath).toBe('team-a-data-pvc-data');
      await manager.unpublish(target);
    });

    it('refuses to delete, archive or retain a volume while it is published, then deletes it under `delete`', async () => {
      const b = provisioning();
      const params = claim('doomed', { onDelete: 'delete' });
      const { volumeId, context } = await b.createVolume({ name: 'pvc-doomed', parameters: params });
      const target = join(sandbox.pods, 'doomed');
      await manager.publish({ ...b.toVolume(b.parameters.parse(context)), target });
      await writeFile(join(target, 'data'), 'precious');
      await mkdir(join(target, 'nested/deeper'), { recursive: true });
      await expect(b.deleteVolume(volumeId, params)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(b.deleteVolume(volumeId, claim('doomed', { onDelete: 'archive' }))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      // retain too: its record stays live, so the next claim of that name cannot take it over.
      await expect(b.deleteVolume(volumeId, claim('doomed', { onDelete: 'retain' }))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect(await b.describeVolume(volumeId)).toBeDefined();
      expect(await server.list('team-a-doomed-pvc-doomed')).toEqual(expect.arrayContaining(['data', 'nested']));
      await manager.unpublish(target);
      await b.deleteVolume(volumeId, params);
      expect(await server.list()).not.toContain('team-a-doomed-pvc-doomed');
      await b.deleteVolume(volumeId, params); // a retry of a finished delete
      await expectNoControllerMounts();
    });

    it('archives under `archive` (keeping an earlier archive) and keeps everything under `retain`', async () => {
      const b = provisioning();
      const archived = claim('old', { onDelete: 'archive' });
      const first = await b.createVolume({ name: 'pvc-old', parameters: archived });
      await writeFile(join(server.exportDir, 'team-a-old-pvc-old', 'v1'), 'one');
      await b.deleteVolume(first.volumeId, archived);
      await b.createVolume({ name: 'pvc-old', parameters: archived });
      await b.deleteVolume(first.volumeId, archived);
      const names = await server.list();
      expect(names).not.toContain('team-a-old-pvc-old');
      expect(names).toContain('archived-team-a-old-pvc-old');
      expect(names.filter((n) => n.startsWith('archived-team-a-old-pvc-old-'))).toHaveLength(1);
      expect(await server.list('archived-team-a-old-pvc-old')).toEqual(['v1']);

      const retained = claim('kept', { onDelete: 'retain' });
      const kept = await b.createVolume({ name: 'pvc-kept', parameters: retained });
      await b.deleteVolume(kept.volumeId, retained);
      expect(await server.list()).toContain('team-a-kept-pvc-kept');
      await expectNoControllerMounts();
    });

    it('a delete without parameters (CSI DeleteVolume) finds the export in the id and applies the provisioner\'s policy: retain unless it says otherwise', async () => {
      const retaining = provisioning();
      const params = claim('idonly');
      const { volumeId } = await retaining.createVolume({ name: 'pvc-idonly', parameters: params });
      expect(await retaining.describeVolume(volumeId)).toMatchObject({ context: { server: server.host, share: server.exportPath, subPath: 'team-a-idonly-pvc-idonly' } });
      for (const id of [`${server.host}#${server.exportPath}#never-made`, 'not-an-nfs-id']) expect(await retaining.describeVolume(id)).toBeUndefined();
      await retaining.deleteVolume(volumeId);
      expect(await server.list()).toContain('team-a-idonly-pvc-idonly');
      expect(await retaining.describeVolume(volumeId)).toBeUndefined();
      await retaining.createVolume({ name: 'pvc-idonly', parameters: params }); // the retained directory, taken again
      const archiving = nfsBackend({ provisioner: { manager, workDir: workDir(), idOnlyDefaults: { onDelete: 'archive', mountOptions: server.mountOptions } } });
      await archiving.deleteVolume(volumeId);
      expect(await server.list()).toContain('archived-team-a-idonly-pvc-idonly');
      expect(await server.list()).not.toContain('team-a-idonly-pvc-idonly');
      await expect(archiving.deleteVolume('not-an-nfs-id')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'volumeId' });
      await expectNoControllerMounts();
    });

    it("records each volume's name and size on the export: another size, or a live volume's directory for another claim, is ALREADY_EXISTS", async () => {
      const b = provisioning();
      const request = { name: 'pvc-sized', parameters: claim('sized'), capacityBytes: 1 << 30 };
      const created = await b.createVolume(request);
      const recordOf = async (dir: string) => JSON.parse(await readFile(join(server.exportDir, '.sharemount-volumes', `${dir}.json`), 'utf8')) as unknown;
      expect(await recordOf('team-a-sized-pvc-sized')).toEqual({ name: 'pvc-sized', capacityBytes: 1 << 30 });
      expect(await b.createVolume(request)).toEqual(created);
      await expect(b.createVolume({ ...request, capacityBytes: 2 * 2 ** 30 })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', field: 'name', message: expect.stringMatching(/1073741824 bytes/) });
      await expect(b.createVolume({ ...request, capacityBytes: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'capacityBytes' });
      expect(await b.createVolume({ ...request, capacityBytes: 2 ** 29 })).toEqual(created); // fits: at least the size asked
      expect(await b.describeVolume(created.volumeId)).toMatchObject({ capacityBytes: 1 << 30 });

      // A template without the PV's name gives two claims one directory: refused while the first volume lives...
      const sameDir = (pv: string) => claim('same', { subDirTemplate: '${pvc.namespace}-${pvc.name}', 'csi.storage.k8s.io/pv/name': pv });
      const first = await b.createVolume({ name: 'pv-1', parameters: sameDir('pv-1') });
      await writeFile(join(server.exportDir, 'team-a-same', 'kept'), 'data');
      await expect(b.createVolume({ name: 'pv-2', parameters: sameDir('pv-2') })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringMatching(/another volume/) });
      // ...and once it is deleted (retained), the next claim adopts it, data and all.
      await b.deleteVolume(first.volumeId, sameDir('pv-1'));
      expect(await recordOf('team-a-same')).toEqual({ name: 'pv-1', capacityBytes: 0, retained: true });
      expect(await b.describeVolume(first.volumeId)).toBeUndefined(); // deleted: no volume any more
      const second = await b.createVolume({ name: 'pv-2', parameters: sameDir('pv-2'), capacityBytes: 5 });
      expect(second.volumeId).toBe(first.volumeId);
      expect(await server.list('team-a-same')).toEqual(['kept']);
      expect(await recordOf('team-a-same')).toEqual({ name: 'pv-2', capacityBytes: 5 });

      // Two claims racing for one directory: one gets it, the other is told it is taken.
      const raced = (pv: string) => claim('raced', { subDirTemplate: '${pvc.namespace}-${pvc.name}', 'csi.storage.k8s.io/pv/name': pv });
      const race = await Promise.allSettled(['pv-r1', 'pv-r2', 'pv-r3'].map((pv) => b.createVolume({ name: pv, parameters: raced(pv) })));
      expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of race.filter((r) => r.status === 'rejected')) expect(r.reason).toMatchObject({ code: 'ALREADY_EXISTS' });

      // A directory this provisioner did not make (an operator's, which a template renders) is
      // never taken over, and a delete of an id naming it leaves it alone, whatever the policy.
      await mkdir(join(server.exportDir, 'team-a-ops-pvc-ops'));
      await writeFile(join(server.exportDir, 'team-a-ops-pvc-ops', 'db.dump'), 'the operator\'s');
      await expect(b.createVolume({ name: 'pvc-ops', parameters: claim('ops') })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', field: 'name', message: expect.stringMatching(/did not make it/) });
      const opsId = `${server.host}#${server.exportPath}#team-a-ops-pvc-ops`;
      expect(await b.describeVolume(opsId)).toBeUndefined();
      for (const onDelete of ['delete', 'archive']) await b.deleteVolume(opsId, claim('ops', { onDelete }));
      expect(await server.list('team-a-ops-pvc-ops')).toEqual(['db.dump']);
      expect(await server.list('.sharemount-volumes')).not.toContain('team-a-ops-pvc-ops.json');
      // With adoptUnrecorded (migrating from another provisioner) it is taken, data and all.
      const adopting = nfsBackend({ provisioner: { manager, workDir: workDir(), adoptUnrecorded: true } });
      expect((await adopting.createVolume({ name: 'pvc-ops', parameters: claim('ops') })).volumeId).toBe(opsId);
      expect(await recordOf('team-a-ops-pvc-ops')).toEqual({ name: 'pvc-ops', capacityBytes: 0 });

      // A record whose directory is missing is stale whatever it holds (a crash mid-write): not even read.
      await writeFile(join(server.exportDir, '.sharemount-volumes', 'team-a-torn-pvc-torn.json'), '{"na');
      expect((await b.createVolume({ name: 'pvc-torn', parameters: claim('torn') })).volumeId).toBe(`${server.host}#${server.exportPath}#team-a-torn-pvc-torn`);
      expect(await recordOf('team-a-torn-pvc-torn')).toEqual({ name: 'pvc-torn', capacityBytes: 0 });

      // A record whose directory was removed by hand is stale: the name is free, at any size.
      await rm(join(server.exportDir, 'team-a-sized-pvc-sized'), { recursive: true });
      expect(await b.describeVolume(created.volumeId)).toBeUndefined();
      await b.createVolume({ ...request, capacityBytes: 2 * 2 ** 30 });
      expect(await recordOf('team-a-sized-pvc-sized')).toEqual({ name: 'pvc-sized', capacityBytes: 2 * 2 ** 30 });

      // A record that is a symlink is refused, never read through (the NFS client would resolve it on this machine).
      const outside = join(sandbox.dir, 'outside-record.json');
      await writeFile(outside, JSON.stringify({ name: 'pvc-linked', capacityBytes: 0 }));
      await mkdir(join(server.exportDir, 'team-a-linked-pvc-linked'));
      await symlink(outside, join(server.exportDir, '.sharemount-volumes', 'team-a-linked-pvc-linked.json'));
      await expect(b.createVolume({ name: 'pvc-linked', parameters: claim('linked') })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/symlink/) });

      // So is a records directory that is a symlink: no record is read, written or removed through it.
      const records = join(server.exportDir, '.sharemount-volumes');
      const elsewhere = join(sandbox.dir, 'elsewhere');
      await mkdir(elsewhere);
      await writeFile(join(elsewhere, 'team-a-sized-pvc-sized.json'), 'not a record, not to be removed');
      await rename(records, `${records}.real`);
      await symlink(elsewhere, records);
      try {
        await expect(b.createVolume({ ...request, capacityBytes: 2 * 2 ** 30 })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/\.sharemount-volumes on the export is a symlink/) });
        await expect(b.deleteVolume(created.volumeId, claim('sized'))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
        // The volume is still found (DeleteVolume's lookup must reach it), its size unknown.
        expect(await b.describeVolume(created.volumeId)).toEqual({ context: expect.objectContaining({ subPath: 'team-a-sized-pvc-sized' }) });
        expect(await readFile(join(elsewhere, 'team-a-sized-pvc-sized.json'), 'utf8')).toBe('not a record, not to be removed');
        expect(await readdir(elsewhere)).toEqual(['team-a-sized-pvc-sized.json']);
      } finally {
        await rm(records);
        await rename(`${records}.real`, records);
      }
      await expectNoControllerMounts();
    });

    it('never deletes through a symlink, and refuses ids for another export', async () => {
      const b = provisioning();
      const outside = join(sandbox.dir, 'outside');
      await mkdir(outside);
      await writeFile(join(outside, 'canary'), 'alive');
      await symlink(outside, join(server.exportDir, 'evil'));
      const params = parameters({ onDelete: 'delete' });
      // No record: not a volume of ours, left alone.
      await b.deleteVolume('127.0.0.1#/export#evil', params);
      // A live volume's directory swapped for a symlink: refused, never followed.
      await mkdir(join(server.exportDir, '.sharemount-volumes'), { recursive: true, mode: 0o700 });
      await writeFile(join(server.exportDir, '.sharemount-volumes', 'evil.json'), JSON.stringify({ name: 'pvc-evil', capacityBytes: 0 }));
      await expect(b.deleteVolume('127.0.0.1#/export#evil', params)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/symlink/) });
      await expect(b.deleteVolume('127.0.0.1#/export#evil', parameters({ onDelete: 'archive' }))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect(await readFile(join(outside, 'canary'), 'utf8')).toBe('alive');
      expect((await lstat(join(server.exportDir, 'evil'))).isSymbolicLink()).toBe(true);
      await expect(b.deleteVolume('127.0.0.1#/other#v', params)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'volumeId' });
      await expect(b.deleteVolume('127.0.0.1#/export#../etc', params)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'volumeId' });
      await expect(b.createVolume({ name: 'x', parameters: parameters({ subDirTemplate: '../${pv.name}' }) })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'parameters.subDirTemplate',
      });
      await expectNoControllerMounts();
    });
  });
});

suite('NFS shares when the server dies', () => {
  let sandbox: Sandbox;
  let server: NfsServer;
  let seam: MountNfsSeam;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-nfs-dead-');
    server = await startNfsServer();
    // fuse mode: the client side of each share is a bindfs process, frozen when the server dies.
    seam = await installMountNfsSeam([server], 'fuse');
  });

  afterAll(async () => {
    await seam?.uninstall();
    await sandbox?.cleanup();
    await server?.stop();
  });

  it('unpublishes and unmounts a share whose server stopped, and stats time out instead of hanging', async () => {
    const backend = nfsBackend();
    const manager = new MountManager({ root: sandbox.root, backends: [backend], timeouts: { commandMs: 3_000, fsMs: 2_000 } });
    const volume = (sub: string) => backend.toVolume(backend.parameters.parse({ share: `127.0.0.1:/export`, mountOptions: server.mountOptions, subPath: sub, createIfNecessary: 'true' }));
    const targets = ['a', 'b', 'c'].map((n) => join(sandbox.pods, n));
    for (const [i, target] of targets.entries()) await manager.publish({ ...volume(`v${i}`), target });
    expect((await mountsUnder(sandbox.root)).filter((m) => m.fsType.startsWith('fuse'))).toHaveLength(1);
    expect((await volumeStats(targets[0]!, 5_000)).totalBytes).toBeGreaterThan(0);

    await server.stop();
    await seam.hangClients();

    await expect(volumeStats(targets[0]!, 1_000)).rejects.toMatchObject({ code: 'TIMEOUT' });
    const results = [];
    for (const target of targets) results.push(await manager.unpublish(target));
    expect(results.map((r) => r.unpublished)).toEqual([true, true, true]);
    expect(results.at(-1)?.shareUnmounted).toBe(true);
    expect(await mountsUnder(sandbox.root)).toEqual([]);
    expect(await mountsUnder(sandbox.pods)).toEqual([]);
  });
});
