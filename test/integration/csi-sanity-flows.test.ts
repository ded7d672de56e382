/**
 * The node flows of the CSI conformance suite (csi-sanity), made the way it makes them, since
 * the suite itself cannot be built here (docs/testing.md): before each case it creates its mount
 * and staging directories, after each it unpublishes, unstages and deletes every volume it
 * created (a NOT_FOUND is fine there), then removes both directories, which must be empty by
 * then. The target is `<mount dir>/target`, which the plugin makes and must remove.
 */
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { createSandbox, mountsUnder, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();
const GiB = 1024 ** 3;

describe.skipIf(skip)('csi: the conformance suite\'s node flows, with its directories and clean-up', () => {
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  let volumesRoot: string;
  let created: string[] = [];
  const mountDir = () => join(sandbox.dir, 'csi-mount');
  const stagingDir = () => join(sandbox.dir, 'csi-staging');
  const targetPath = (name = 'target') => join(mountDir(), name);

  const createVolume = async (name: string, mode = 'SINGLE_NODE_WRITER') => {
    const { volume } = await client.controller.CreateVolume({
      name,
      volume_capabilities: [mountCapability(mode)],
      capacity_range: { required_bytes: 10 * GiB, limit_bytes: 10 * GiB },
      parameters: { path: volumesRoot },
    });
    created.push(volume.volume_id);
    return volume as { volume_id: string; volume_context: Record<string, string> };
  };
  const stage = (volume: { volume_id: string; volume_context: Record<string, string> }, mode = 'SINGLE_NODE_WRITER') =>
    client.node.NodeStageVolume({ volume_id: volume.volume_id, staging_target_path: stagingDir(), volume_capability: mountCapability(mode), volume_context: volume.volume_context });
  const publish = (volume: { volume_id: string; volume_context: Record<string, string> }, target = targetPath(), mode = 'SINGLE_NODE_WRITER') =>
    client.node.NodePublishVolume({ volume_id: volume.volume_id, staging_target_path: stagingDir(), target_path: target, volume_capability: mountCapability(mode), volume_context: volume.volume_context });

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-sanity-');
    volumesRoot = join(sandbox.dir, 'volumes');
    ({ client, close } = await startPlugin({
      name: 'sanity.example.com',
      vendorVersion: '1',
      nodeId: 'node-1',
      endpoint: join(sandbox.dir, 'csi.sock'),
      backends: [bindBackend({ provisioning: { root: volumesRoot, onDelete: 'delete' } })],
      root: sandbox.root,
      logger: silentLogger,
    }));
  });

  beforeEach(async () => {
    // os.Mkdir, as the suite does: an error if a previous case left them.
    await mkdir(mountDir());
    await mkdir(stagingDir());
  });

  afterEach(async () => {
    const failures: string[] = [];
    for (const id of created.reverse()) {
      for (const call of [
        () => client.node.NodeUnpublishVolume({ volume_id: id, target_path: targetPath() }),
        () => client.node.NodeUnstageVolume({ volume_id: id, staging_target_path: stagingDir() }),
        () => client.controller.DeleteVolume({ volume_id: id }),
      ]) {
        await call().catch((error: { code?: number; message: string }) => {
          if (error.code !== status.NOT_FOUND) failures.push(error.message);
        });
      }
    }
    created = [];
    await rmdir(mountDir());
    await rmdir(stagingDir());
    expect(failures).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
  });

  it('should work: create, stage, publish, stats, unpublish, unstage, delete', async () => {
    const volume = await createVolume('sanity-node-full-0123');
    await stage(volume);
    await publish(volume);
    const stats = await client.node.NodeGetVolumeStats({ volume_id: volume.volume_id, volume_path: targetPath() });
    expect(stats.usage.map((u: { unit: string }) => u.unit)).toEqual(['BYTES', 'INODES']);
    for (const usage of stats.usage as { total: number; used: number; available: number }[]) expect(usage.used + usage.available).toBeLessThanOrEqual(usage.total);
    expect(stats.volume_condition).toEqual({ abnormal: false, message: 'the volume answers' });
    await client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: targetPath() });
    await expect(stat(targetPath())).rejects.toMatchObject({ code: 'ENOENT' });
    await client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: stagingDir() });
  });

  it('should be idempotent: each call ten times, with one mount each and the same answer every time', async () => {
    const volume = await createVolume('sanity-node-idempotent-0123');
    const mountsAt = async (path: string) => (await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint === path).length;
    const tenTimes = async (call: () => Promise<unknown>) => {
      const answers: unknown[] = [];
      for (let i = 0; i < 10; i++) answers.push(await call());
      return answers;
    };

    expect(await tenTimes(() => stage(volume))).toEqual(Array(10).fill({}));
    expect(await mountsAt(stagingDir())).toBe(1);
    expect(await mountsUnder(sandbox.root)).toHaveLength(1); // one share

    expect(await tenTimes(() => publish(volume))).toEqual(Array(10).fill({}));
    expect(await mountsAt(targetPath())).toBe(1); // never stacked
    await writeFile(join(targetPath(), 'written-through-target'), 'x');
    expect(await readFile(join(stagingDir(), 'written-through-target'), 'utf8')).toBe('x');

    const stats = await tenTimes(() => client.node.NodeGetVolumeStats({ volume_id: volume.volume_id, volume_path: targetPath() }));
    expect(stats[0]).toMatchObject({ volume_condition: { abnormal: false } });
    expect(stats.map((s) => (s as { volume_condition: unknown }).volume_condition)).toEqual(Array(10).fill((stats[0] as { volume_condition: unknown }).volume_condition));

    expect(await tenTimes(() => client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: targetPath() }))).toEqual(Array(10).fill({}));
    await expect(stat(targetPath())).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountsAt(stagingDir())).toBe(1);

    expect(await tenTimes(() => client.node.NodeUnstageVolume({ volume_id: volume.volume_id, staging_target_path: stagingDir() }))).toEqual(Array(10).fill({}));
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await readdir(stagingDir())).toEqual([]); // the directory is the CO's, left empty
  });

  it('NodeGetVolumeStats fails with NOT_FOUND for an unknown volume, and for a volume not on the path', async () => {
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: 'fake-vol-id-0123', volume_path: 'some/path' }), status.NOT_FOUND, 'volume_path');
    const volume = await createVolume('sanity-node-get-volume-stats-0123');
    await stage(volume);
    await publish(volume);
    await expectStatus(client.node.NodeGetVolumeStats({ volume_id: volume.volume_id, volume_path: 'some/path' }), status.NOT_FOUND, 'volume_path');
  });

  it('NodeExpandVolume after node-publish works; NOT_FOUND for an unknown volume', async () => {
    await expectStatus(client.node.NodeExpandVolume({ volume_id: 'fake-vol-id-0123', volume_path: 'some/path' }), status.NOT_FOUND, 'no volume');
    const volume = await createVolume('sanity-node-expand-volume-0123');
    expect(await client.controller.ControllerExpandVolume({ volume_id: volume.volume_id, capacity_range: { required_bytes: 11 * GiB } })).toMatchObject({ capacity_bytes: 11 * GiB });
    await stage(volume);
    await publish(volume);
    expect(await client.node.NodeExpandVolume({ volume_id: volume.volume_id, volume_path: targetPath(), capacity_range: { required_bytes: 11 * GiB } })).toEqual({ capacity_bytes: 11 * GiB });
    // The volume stays published and answering.
    expect(await client.node.NodeGetVolumeStats({ volume_id: volume.volume_id, volume_path: targetPath() })).toMatchObject({ volume_condition: { abnormal: false } });
  });

  it('with single node multi writer capability: a SINGLE_NODE_SINGLE_WRITER volume published at another target fails with FAILED_PRECONDITION', async () => {
    const caps = (await client.node.NodeGetCapabilities({})).capabilities.map((c: { rpc: { type: string } }) => c.rpc.type);
    expect(caps).toContain('SINGLE_NODE_MULTI_WRITER');
    const single = 'SINGLE_NODE_SINGLE_WRITER';
    const volume = await createVolume('sanity-node-publish-single-node-single-writer-0123', single);
    await stage(volume, single);
    await publish(volume, targetPath(), single);
    await expectStatus(publish(volume, targetPath('other_target'), single), status.FAILED_PRECONDITION, 'already published');
    await expect(stat(targetPath('other_target'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
