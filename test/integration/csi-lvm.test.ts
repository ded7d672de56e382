/**
 * The CSI plugin on the LVM backend, over real gRPC, on real lvm2 (loop devices standing in for
 * active LVs, see docs/testing.md): a logical volume created by CreateVolume with this node's
 * topology, formatted once and mounted once for two pods, grown online on its node
 * (ControllerExpandVolume asks for node expansion, NodeExpandVolume grows the LV and its xfs),
 * refused deletion while mounted, then removed.
 */
import { readFile, statfs, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lvmBackend } from '../../src/backends/lvm.js';
import { lvsArgs } from '../../src/backends/lvm/commands.js';
import { parseLvReport } from '../../src/backends/lvm/reports.js';
import { silentLogger } from '../../src/logger.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { createLvmEnv, missingLvmPrerequisite, type LvmTestEnv } from '../helpers/lvm-env.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';

const MiB = 1024 ** 2;
const missing = missingLvmPrerequisite();
const skip = skipWhenMissing(missing, 'the CSI LVM tests');

describe.skipIf(skip)('csi: LVM volumes through the Controller and Node services', () => {
  let env: LvmTestEnv;
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  const caps = [mountCapability()];
  const sizeOf = async (path: string) => {
    const s = await statfs(path);
    return s.blocks * s.bsize;
  };

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-lvm-');
    env = await createLvmEnv({ vg: 'csivg', sizeBytes: 1024 ** 3 });
    ({ client, close } = await startPlugin({ name: 'lvm.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends: [lvmBackend(env.backendOptions())], root: sandbox.root, logger: silentLogger }));
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
    await env?.cleanup();
  });

  it('creates, shares, grows and deletes a logical volume', async () => {
    const parameters = { volumeGroup: env.vg, fsType: 'xfs', mkfsOptions: '-K' };
    const topology = { 'lvm.example.com/node': 'node-1' };
    const { volume } = await client.controller.CreateVolume({ name: 'pvc-lvm', volume_capabilities: caps, parameters, capacity_range: { required_bytes: 320 * MiB } });
    expect(volume).toMatchObject({ volume_id: `lvm:${env.vg}/pvc-lvm`, capacity_bytes: 320 * MiB, accessible_topology: [{ segments: topology }] });
    expect((await client.controller.ValidateVolumeCapabilities({ volume_id: volume.volume_id, volume_capabilities: caps })).confirmed).not.toBeNull();
    expect((await client.controller.GetCapacity({ parameters: { volumeGroup: env.vg } })).available_capacity).toBeGreaterThan(0);
    // Listed; a linear LV is no source of a new volume (a block copy), said by field; no snapshots yet.
    const listed = (await client.controller.ListVolumes({})).entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id);
    expect(listed).toContain(volume.volume_id);
    await expectStatus(client.controller.CreateVolume({ name: 'pvc-clone', volume_capabilities: caps, parameters, volume_content_source: { volume: { volume_id: volume.volume_id } } }), status.INVALID_ARGUMENT, 'volume_content_source');
    await expectStatus(client.controller.CreateVolume({ name: 'pvc-clone', volume_capabilities: caps, parameters, volume_content_source: { snapshot: { snapshot_id: `lvm:${env.vg}/no-such` } } }), status.NOT_FOUND, 'no snapshot');
    expect((await client.controller.ListSnapshots({ source_volume_id: volume.volume_id })).entries).toEqual([]);
    await client.controller.DeleteSnapshot({ snapshot_id: `lvm:${env.vg}/no-such` });

    const staging = join(sandbox.dir, 'staging');
    await mkdir(staging);
    await client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: staging, volume_capability: caps[0], volume_context: volume.volume_context });
    const targets = ['pod-1', 'pod-2'].map((pod) => join(sandbox.pods, pod, 'mount'));
    for (const target of targets) {
      await mkdir(join(target, '..'), { recursive: true });
      await client.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: staging, target_path: target, volume_capability: caps[0], volume_context: volume.volume_context });
    }
    await writeFile(join(targets[0]!, 'data.txt'), 'on the LV');
    expect(await readFile(join(targets[1]!, 'data.txt'), 'utf8')).toBe('on the LV');
    expect((await mountsUnder(sandbox.root)).filter((m) => m.fsType === 'xfs')).toHaveLength(1);

    const before = await sizeOf(targets[0]!);
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 512 * MiB } })).toEqual({ capacity_bytes: 512 * MiB, node_expansion_required: true });
    expect(await client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: targets[0]!, capacity_range: { required_bytes: 512 * MiB } })).toEqual({ capacity_bytes: 512 * MiB });
    expect(await sizeOf(targets[1]!)).toBeGreaterThan(before + 150 * MiB);
    const lvs = parseLvReport(await env.lvm('lvs', lvsArgs(env.vg), { vg: env.vg }));
    expect(lvs.find((r) => r.lv_name === 'pvc-lvm')?.lv_size).toBe(512 * MiB);

    await expectStatus(client.controller.DeleteVolume({ volume_id: volume.volume_id }), status.FAILED_PRECONDITION, 'mounted');
    for (const target of targets) await client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: target });
    await client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: staging });
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    expect(parseLvReport(await env.lvm('lvs', lvsArgs(env.vg), { vg: env.vg })).some((r) => r.lv_name === 'pvc-lvm')).toBe(false);
    await client.controller.DeleteVolume({ volume_id: volume.volume_id });
    await expectStatus(client.controller.ValidateVolumeCapabilities({ volume_id: volume.volume_id, volume_capabilities: caps }), status.NOT_FOUND, 'no volume');
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });
});
