/**
 * DESIGN.md's CSI case on a real nfs-ganesha (the kernel NFS client stood in by the mount.nfs
 * seam, docs/testing.md): PVs created by CreateVolume as sub-directories of one export, staged
 * with their mount options in any order, cost one share on the node; the last unstage unmounts
 * it; DeleteVolume applies the driver's policy from the id alone.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nfsBackend } from '../../src/backends/nfs.js';
import { bindBackend } from '../../src/backends/bind.js';
import type { CsiPlugin } from '../../src/csi/index.js';
import { silentLogger } from '../../src/logger.js';
import type { MountManager } from '../../src/mount-manager.js';
import { status } from '@grpc/grpc-js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { describeTree, writeHostileTree } from '../helpers/tree.js';
import { installMountNfsSeam, type MountNfsSeam } from '../helpers/mount-nfs-seam.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { missingNfsPrerequisites, startNfsServer, type NfsServer } from '../helpers/nfs-server.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';

const missing = missingNfsPrerequisites();
const suite = describe.skipIf(skipWhenMissing(missing.length > 0 ? missing.join(', ') : undefined, 'the CSI NFS tests'));

suite('csi: NFS volumes, one share for all the PVs of an export', () => {
  let sandbox: Sandbox;
  let server: NfsServer;
  let seam: MountNfsSeam;
  let plugin: CsiPlugin;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CSI NFS tests need: ${missing.join(', ')}`);
    sandbox = await createSandbox('sharemount-csi-nfs-');
    server = await startNfsServer();
    seam = await installMountNfsSeam([server]);
    // The provisioner reaches the export through the plugin's own manager (made with the plugin).
    const manager: Pick<MountManager, 'publish' | 'unpublish'> = { publish: (r) => plugin.manager.publish(r), unpublish: (t, o) => plugin.manager.unpublish(t, o) };
    const nfs = nfsBackend({ provisioner: { manager, workDir: join(sandbox.dir, 'controller'), idOnlyDefaults: { onDelete: 'delete', mountOptions: server.mountOptions }, listedExports: [`${server.host}:${server.exportPath}`] } });
    ({ plugin, client, close } = await startPlugin({ name: 'nfs.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends: [nfs], root: sandbox.root, logger: silentLogger, timeouts: { commandMs: 15_000 } }));
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
    await seam?.uninstall();
    await server?.stop();
  });

  it('10 PVs of one export: one share, a bind mount per staging path and pod, all gone after the last unstage; deleted from the id alone', async () => {
    const capability = (flags: string[]) => ({ mount: { mount_flags: flags }, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } });
    const parameters = { share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(',') };
    const pvs = Array.from({ length: 10 }, (_, i) => `pvc-${i}`);
    const volumes = [];
    for (const name of pvs) volumes.push((await client.controller.CreateVolume({ name, volume_capabilities: [capability([])], parameters })).volume);
    expect(volumes[0]).toMatchObject({ volume_id: `nfs:${server.host}#${server.exportPath}#pvc-0`, accessible_topology: [] });

    for (const [i, volume] of volumes.entries()) {
      // The PV's mount options, in another order each time: the same option set.
      const flags = i % 2 === 0 ? [...server.mountOptions] : [...server.mountOptions].reverse();
      const staging = join(sandbox.dir, 'staging', volume.volume_id.replace(/[^a-z0-9-]/gi, '_'));
      const target = join(sandbox.pods, `pod-${i}`, 'mount');
      await mkdir(staging, { recursive: true });
      await mkdir(join(target, '..'), { recursive: true });
      await client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: capability(flags), volume_context: volume.volume_context });
      await client.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: staging, target_path: target, volume_capability: capability(flags), volume_context: volume.volume_context });
      await writeFile(join(target, 'owner'), volume.volume_id);
      Object.assign(volume, { staging, target });
    }
    const shares = await plugin.manager.list();
    expect(shares).toHaveLength(1);
    expect(shares[0]!.publications).toHaveLength(10);
    expect(await readFile(join(server.exportDir, 'pvc-7', 'owner'), 'utf8')).toBe(volumes[7]!.volume_id);
    expect(await mountsUnder(sandbox.pods)).toHaveLength(10);

    for (const volume of volumes as Array<{ volume_id: string; staging: string; target: string }>) {
      await client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: volume.target });
      await client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: volume.staging });
    }
    expect(await plugin.manager.list()).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);

    const capabilities = [capability([])];
    expect((await client.controller.ValidateVolumeCapabilities({ volume_id: volumes[0]!.volume_id, volume_capabilities: capabilities })).confirmed).not.toBeNull();
    for (const volume of volumes) await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    expect((await server.list()).filter((name) => name.startsWith('pvc-'))).toEqual([]);
    await expectStatus(client.controller.ValidateVolumeCapabilities({ volume_id: volumes[0]!.volume_id, volume_capabilities: capabilities }), status.NOT_FOUND, 'no volume');
    await client.controller.DeleteVolume({ volume_id: volumes[0]!.volume_id }); // gone already: a success
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('CreateVolume is idempotent by name and size: the same request gives the same volume, another size ALREADY_EXISTS; the name is free after DeleteVolume', async () => {
    const parameters = { share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(',') };
    const request = (bytes: number) => ({ name: 'sized', capacity_range: { required_bytes: bytes }, volume_capabilities: [mountCapability()], parameters });
    const { volume } = await client.controller.CreateVolume(request(1 << 20));
    expect(volume).toMatchObject({ volume_id: `nfs:${server.host}#${server.exportPath}#sized`, capacity_bytes: 1 << 20 });
    expect((await client.controller.CreateVolume(request(1 << 20))).volume).toEqual(volume);
    await expectStatus(client.controller.CreateVolume(request(2 << 20)), status.ALREADY_EXISTS, '1048576 bytes');
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    expect((await client.controller.CreateVolume(request(2 << 20))).volume).toMatchObject({ volume_id: volume.volume_id, capacity_bytes: 2 << 20 });
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    expect(await server.list()).not.toContain('sized');
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('a 128-character name gets a volume id of at most 128 bytes (a shorter directory with a hash), idempotent by name; the volume context keeps the directory', async () => {
    const parameters = { share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(',') };
    const name = 'a'.repeat(128);
    const { volume } = await client.controller.CreateVolume({ name, volume_capabilities: [mountCapability()], parameters });
    expect(Buffer.byteLength(volume.volume_id)).toBeLessThanOrEqual(128);
    expect(volume.volume_context.subPath).toMatch(/^a+-[0-9a-f]{16}$/);
    expect(await server.list()).toContain(volume.volume_context.subPath);
    expect((await client.controller.CreateVolume({ name, volume_capabilities: [mountCapability()], parameters })).volume).toEqual(volume);
    // A name of another length under the same prefix is another volume.
    const other = (await client.controller.CreateVolume({ name: 'a'.repeat(127), volume_capabilities: [mountCapability()], parameters })).volume;
    expect(other.volume_id).not.toBe(volume.volume_id);
    for (const v of [volume, other]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
    expect(await server.list()).not.toContain(volume.volume_context.subPath);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('ControllerExpandVolume records the new size (node_expansion_required false), never shrinks, NOT_FOUND for no volume; NodeExpandVolume on a published NFS volume succeeds', async () => {
    const parameters = { share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(',') };
    const { volume } = await client.controller.CreateVolume({ name: 'grows', capacity_range: { required_bytes: 1 << 20 }, volume_capabilities: [mountCapability()], parameters });
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 4 << 20 } })).toMatchObject({ capacity_bytes: 4 << 20, node_expansion_required: false });
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 2 << 20 } })).toMatchObject({ capacity_bytes: 4 << 20 });
    // The record keeps it: a repeated CreateVolume of the first size still answers (a grown volume answers its own retry).
    expect((await client.controller.CreateVolume({ name: 'grows', capacity_range: { required_bytes: 1 << 20 }, volume_capabilities: [mountCapability()], parameters })).volume).toMatchObject({ capacity_bytes: 4 << 20 });
    await expectStatus(client.controller.ControllerExpandVolume({ volume_id: `nfs:${server.host}#${server.exportPath}#no-such`, capacity_range: { required_bytes: 1 } }), status.NOT_FOUND, 'no');

    // The node flow, on a plugin that serves NFS beside a node-local backend, as the example
    // driver does: its nodes advertise EXPAND_VOLUME, so the CO calls NodeExpandVolume for NFS
    // volumes too, which has nothing to grow there.
    const manager: Pick<MountManager, 'publish' | 'unpublish'> = { publish: (r) => mixed.plugin.manager.publish(r), unpublish: (t, o) => mixed.plugin.manager.unpublish(t, o) };
    const mixed = await startPlugin({
      name: 'mixed.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'mixed.sock'), root: join(sandbox.dir, 'mixed-root'), logger: silentLogger,
      backends: [nfsBackend({ provisioner: { manager, workDir: join(sandbox.dir, 'mixed-controller'), idOnlyDefaults: { onDelete: 'delete', mountOptions: server.mountOptions } } }), bindBackend({ provisioning: { root: join(sandbox.dir, 'mixed-volumes') } })],
    });
    const staging = join(sandbox.dir, 'staging', 'grows');
    const target = join(sandbox.pods, 'grows', 'mount');
    await mkdir(staging, { recursive: true });
    await mkdir(join(target, '..'), { recursive: true });
    const context = { ...volume.volume_context, backend: 'nfs' };
    try {
      const caps = (await mixed.client.node.NodeGetCapabilities({})).capabilities.map((c: { rpc: { type: string } }) => c.rpc.type);
      expect(caps).toContain('EXPAND_VOLUME');
      await mixed.client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: mountCapability(), volume_context: context });
      await mixed.client.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: staging, target_path: target, volume_capability: mountCapability(), volume_context: context });
      expect(await mixed.client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 8 << 20 } })).toMatchObject({ capacity_bytes: 8 << 20, node_expansion_required: false });
      expect(await mixed.client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: target, capacity_range: { required_bytes: 8 << 20 } })).toMatchObject({ capacity_bytes: 8 << 20 });
      await expectStatus(mixed.client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: join(sandbox.dir, 'nowhere'), capacity_range: { required_bytes: 1 } }), status.NOT_FOUND, 'volume_path');
    } finally {
      await mixed.client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: target });
      await mixed.client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: staging });
      await mixed.close();
      await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    }
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });

  it('snapshots are copies on the export, file by file; a clone of a snapshot taken before a change shows the old content; listings page; a snapshot outlives its volume', async () => {
    const parameters = { share: `${server.host}:${server.exportPath}`, mountOptions: server.mountOptions.join(',') };
    const create = async (name: string, extra: object = {}) => (await client.controller.CreateVolume({ name, volume_capabilities: [mountCapability()], capacity_range: { required_bytes: 1 << 20 }, parameters, ...extra })).volume;
    const source = await create('nfs-snap-source');
    const dir = join(server.exportDir, source.volume_context.subPath);
    await writeHostileTree(dir);
    await writeFile(join(dir, 'version'), 'one');
    const before = await describeTree(dir);
    const { snapshot } = await client.controller.CreateSnapshot({ name: 'nfs-snap', source_volume_id: source.volume_id });
    expect(snapshot).toMatchObject({ source_volume_id: source.volume_id, size_bytes: 1 << 20, ready_to_use: true });
    expect(Buffer.byteLength(snapshot.snapshot_id)).toBeLessThanOrEqual(128);
    expect((await client.controller.CreateSnapshot({ name: 'nfs-snap', source_volume_id: source.volume_id })).snapshot).toEqual(snapshot);
    expect(await describeTree(join(server.exportDir, '.sharemount-snapshots', 'nfs-snap'))).toEqual(before);
    await writeFile(join(dir, 'version'), 'two');

    const clone = await create('nfs-clone', { volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } });
    expect(clone.content_source).toMatchObject({ snapshot: { snapshot_id: snapshot.snapshot_id } });
    expect(await describeTree(join(server.exportDir, clone.volume_context.subPath))).toEqual(before);
    await expectStatus(create('nfs-clone', { volume_content_source: { volume: { volume_id: source.volume_id } } }), status.ALREADY_EXISTS, 'made from snapshot');
    await expectStatus(create('nfs-small', { volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } }, capacity_range: { required_bytes: 1000 } }), status.OUT_OF_RANGE, 'required_bytes');
    const fromVolume = await create('nfs-from-volume', { volume_content_source: { volume: { volume_id: source.volume_id } } });
    expect(await readFile(join(server.exportDir, fromVolume.volume_context.subPath, 'version'), 'utf8')).toBe('two');

    const listed = (await client.controller.ListVolumes({})).entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id);
    expect(listed).toEqual(expect.arrayContaining([source.volume_id, clone.volume_id, fromVolume.volume_id]));
    const page = await client.controller.ListVolumes({ max_entries: 1 });
    expect(page.entries).toHaveLength(1);
    expect(page.next_token).not.toBe('');
    expect((await client.controller.ListSnapshots({ source_volume_id: source.volume_id })).entries).toEqual([{ snapshot }]);
    expect((await client.controller.ListSnapshots({})).entries).toEqual([{ snapshot }]);
    expect((await client.controller.ListSnapshots({ snapshot_id: `nfs:${server.host}#${server.exportPath}#nothing` })).entries).toEqual([]);

    for (const v of [source, clone, fromVolume]) await client.controller.DeleteVolume({ volume_id: v.volume_id });
    expect((await client.controller.ListSnapshots({ snapshot_id: snapshot.snapshot_id })).entries).toEqual([{ snapshot }]);
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
    await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
    expect((await client.controller.ListSnapshots({})).entries).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });
});
