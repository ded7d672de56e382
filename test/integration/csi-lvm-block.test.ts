/**
 * Raw block volumes (`volumeMode: Block`) on the LVM backend, over real gRPC, with real bind
 * mounts of the LV's device node (a loop device standing in for the active LV, see
 * docs/testing.md): staged onto a file in the staging directory, published onto target files
 * the plugin makes, written through a target and read back through the device, stats from the
 * device's size, grown without touching what the pod wrote on it, every call repeated; and the refusal of a block capability by the bind and NFS
 * backends.
 */
import { lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { silentLogger } from '../../src/logger.js';
import { startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { createLvmEnv, missingLvmPrerequisite, type LvmTestEnv } from '../helpers/lvm-env.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';

const MiB = 1024 ** 2;
const missing = missingLvmPrerequisite();
const skip = skipWhenMissing(missing, 'the CSI raw block tests');

const blockCapability = (mode = 'SINGLE_NODE_WRITER') => ({ block: {}, access_mode: { mode } });

async function readAt(path: string, length: number, position = 0): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, position);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

async function writeAt(path: string, text: string, position = 0): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(Buffer.from(text), 0, Buffer.byteLength(text), position);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

describe.skipIf(skip)('csi: raw block LVM volumes', () => {
  let env: LvmTestEnv;
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-block-');
    env = await createLvmEnv({ vg: 'blockvg', sizeBytes: 512 * MiB });
    const backends = [lvmBackend(env.backendOptions()), bindBackend({ allowedPaths: ['/'] }), nfsBackend()];
    ({ client, close } = await startPlugin({ name: 'block.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends, root: sandbox.root, logger: silentLogger }));
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
    await env?.cleanup();
  });

  it('stages and publishes the device node on files, writes through a target, reads through the device, and takes it all down again', async () => {
    const { volume } = await client.controller.CreateVolume({ name: 'pvc-raw', volume_capabilities: [blockCapability()], parameters: { backend: 'lvm', volumeGroup: env.vg }, capacity_range: { required_bytes: 64 * MiB } });
    expect(volume).toMatchObject({ volume_id: `lvm:${env.vg}/pvc-raw`, capacity_bytes: 64 * MiB });
    const id = volume.volume_id as string;
    const context = volume.volume_context as Record<string, string>;
    const device = await env.standIn(env.vg, 'pvc-raw');

    // kubelet makes the staging directory, and the targets' parents but not the targets.
    const staging = join(sandbox.dir, 'volumeDevices', 'staging', 'pvc-raw');
    await mkdir(staging, { recursive: true });
    const stage = { volume_id: id, staging_target_path: staging, volume_capability: blockCapability(), volume_context: context };
    await client.node.NodeStageVolume(stage);
    await client.node.NodeStageVolume(stage);
    const [stagingFile, ...more] = await readdir(staging);
    expect(more).toEqual([]);
    expect((await stat(join(staging, stagingFile!))).rdev).toBe((await stat(device)).rdev);

    const targets = ['pod-1', 'pod-2'].map((pod) => join(sandbox.dir, 'volumeDevices', 'publish', 'pvc-raw', pod));
    await mkdir(join(targets[0]!, '..'), { recursive: true });
    for (const target of targets) {
      const publish = { volume_id: id, staging_target_path: staging, target_path: target, volume_capability: blockCapability(), volume_context: context };
      await client.node.NodePublishVolume(publish);
      await client.node.NodePublishVolume(publish);
      const info = await stat(target);
      expect(info.isBlockDevice()).toBe(true);
      expect(info.rdev).toBe((await stat(device)).rdev);
    }
    // Each path is bound once, whatever the repeats: the staging file and the two targets.
    const binds = (await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint.includes('volumeDevices'));
    expect(binds.map((m) => m.mountPoint).sort()).toEqual([join(staging, stagingFile!), ...targets].sort());

    await writeAt(targets[0]!, 'written through a pod target', 4096);
    expect(await readAt(device, 28, 4096)).toBe('written through a pod target');
    expect(await readAt(targets[1]!, 28, 4096)).toBe('written through a pod target');

    for (const path of [targets[0]!, staging]) {
      const stats = await client.node.NodeGetVolumeStats({ volume_id: id, volume_path: path });
      expect(stats.usage).toEqual([{ unit: 'BYTES', total: 64 * MiB, used: 0, available: 0 }]);
      expect(stats.volume_condition).toMatchObject({ abnormal: false });
    }
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: `lvm:${env.vg}/other`, volume_path: targets[0]! }), status.NOT_FOUND, 'volume_path');

    // Grown on its node: the LV only. A filesystem the pod made on the device is its own, and
    // is left as it is (the backend would otherwise grow it offline under the pod).
    await execa('mkfs.ext4', ['-q', '-F', targets[0]!]);
    const ext4Blocks = async () => /Block count:\s+(\d+)/.exec((await execa('dumpe2fs', ['-h', device])).stdout)?.[1];
    const blocksBefore = await ext4Blocks();
    expect(await client.controller.ControllerExpandVolume({ volume_id: id, capacity_range: { required_bytes: 96 * MiB }, volume_capability: blockCapability() })).toEqual({ capacity_bytes: 96 * MiB, node_expansion_required: true });
    for (let i = 0; i < 2; i++) {
      const grown = await client.node.NodeExpandVolume({ volume_id: id, volume_path: targets[1]!, capacity_range: { required_bytes: 96 * MiB }, volume_capability: blockCapability() });
      expect(grown).toEqual({ capacity_bytes: 96 * MiB });
    }
    expect(await ext4Blocks()).toBe(blocksBefore);
    // lvextend grows an active LV's device at once; the stand-in loop device follows when asked.
    await env.standIn(env.vg, 'pvc-raw');
    const grownStats = await client.node.NodeGetVolumeStats({ volume_id: id, volume_path: staging });
    expect(grownStats.usage).toEqual([{ unit: 'BYTES', total: 96 * MiB, used: 0, available: 0 }]);
    await expectStatus(client.node.NodeExpandVolume({ volume_id: `lvm:${env.vg}/other`, volume_path: targets[1]!, capacity_range: { required_bytes: 96 * MiB } }), status.NOT_FOUND, 'volume_path');
    await expectStatus(client.node.NodeUnpublishVolume({ volume_id: `lvm:${env.vg}/other`, target_path: targets[0]! }), status.NOT_FOUND, 'another block volume');

    // Its device is in use: DeleteVolume is refused while any bind of its node is there.
    await expectStatus(client.controller.DeleteVolume({ volume_id: id }), status.FAILED_PRECONDITION, 'mounted');

    // A read-only bind of a device node lets writes through: refused rather than pretended.
    const readOnlyTarget = join(join(targets[0]!, '..'), 'pod-ro');
    await expectStatus(client.node.NodePublishVolume({ volume_id: id, staging_target_path: staging, target_path: readOnlyTarget, volume_capability: blockCapability(), volume_context: context, readonly: true }), status.INVALID_ARGUMENT, 'readonly');
    await expect(lstat(readOnlyTarget)).rejects.toMatchObject({ code: 'ENOENT' });

    for (const target of targets) {
      await client.node.NodeUnpublishVolume({ volume_id: id, target_path: target });
      await client.node.NodeUnpublishVolume({ volume_id: id, target_path: target });
      await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    await client.node.NodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    await client.node.NodeUnstageVolume({ volume_id: id, staging_target_path: staging });
    expect(await readdir(staging)).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
    // The data stays on the LV: the pod's filesystem is there, as it was.
    expect(await ext4Blocks()).toBe(blocksBefore);

    await client.controller.DeleteVolume({ volume_id: id });
    expect((await client.controller.ValidateVolumeCapabilities({ volume_id: id, volume_capabilities: [blockCapability()] }).catch((e: { code: number }) => e)) as { code: number }).toMatchObject({ code: status.NOT_FOUND });
  });

  it('answers a publish before the stage with FAILED_PRECONDITION, and leaves no target file', async () => {
    const staging = join(sandbox.dir, 'unstaged');
    const target = join(sandbox.pods, 'pod-x');
    await mkdir(staging, { recursive: true });
    const publish = { volume_id: `lvm:${env.vg}/nothing`, staging_target_path: staging, target_path: target, volume_capability: blockCapability(), volume_context: { backend: 'lvm', volumeGroup: env.vg, logicalVolume: 'nothing' } };
    await expectStatus(client.node.NodePublishVolume(publish), status.FAILED_PRECONDITION, 'not staged');
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the bind and NFS backends refuse a block capability with INVALID_ARGUMENT naming it, and mount nothing', async () => {
    const staging = join(sandbox.dir, 'refused');
    await mkdir(staging, { recursive: true });
    const contexts = [
      { backend: 'bind', path: sandbox.source },
      { backend: 'nfs', server: '127.0.0.1', share: '/export' },
    ];
    for (const context of contexts) {
      const stage = { volume_id: `${context.backend}:v`, staging_target_path: staging, volume_capability: blockCapability(), volume_context: context };
      await expectStatus(client.node.NodeStageVolume(stage), status.INVALID_ARGUMENT, `volume_capability.block: block volumes are not served by backend ${context.backend}`);
      await expectStatus(client.node.NodePublishVolume({ ...stage, target_path: join(sandbox.pods, 'refused') }), status.INVALID_ARGUMENT, 'volume_capability.block');
    }
    expect(await readdir(staging)).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
  });
});
