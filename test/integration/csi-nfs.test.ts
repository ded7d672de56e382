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
import type { CsiPlugin } from '../../src/csi/index.js';
import { silentLogger } from '../../src/logger.js';
import type { MountManager } from '../../src/mount-manager.js';
import { status } from '@grpc/grpc-js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { installMountNfsSeam, type MountNfsSeam } from '../helpers/mount-nfs-seam.js';
import { missingNfsPrerequisites, startNfsServer, type NfsServer } from '../helpers/nfs-server.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';

const missing = missingNfsPrerequisites();
if (missing.length > 0 && process.env.CI !== 'true') console.warn(`skipping the CSI NFS tests: missing ${missing.join(', ')}`);
const suite = missing.length > 0 && process.env.CI !== 'true' ? describe.skip : describe;

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
    const nfs = nfsBackend({ provisioner: { manager, workDir: join(sandbox.dir, 'controller'), idOnlyDefaults: { onDelete: 'delete', mountOptions: server.mountOptions } } });
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
});
