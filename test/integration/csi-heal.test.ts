/**
 * Healing through the CSI shim (docs/healing.md, docs/csi.md): a staged volume whose bindfs
 * daemon was killed is reported abnormal by NodeGetVolumeStats while its source does not answer,
 * and normal once the source is served again and the stats call healed it; a target bound
 * before the heal is bound again by a repeated NodePublishVolume (kubelet's periodic republish
 * with `requiresRepublish: true`), which is idempotent otherwise; the optional periodic check
 * heals a share with no call at all. A hung volume (its daemon stopped) holds up only its own
 * calls.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { bindfsAvailable, startBindfs, stopBindfs, type BindfsMount } from '../helpers/bindfs.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { exited } from '../helpers/processes.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady([{ what: 'bindfs and /dev/fuse (apt-get install bindfs fuse3)', ok: bindfsAvailable }]);

describe.skipIf(skip)('csi: broken volumes heal', () => {
  let sandbox: Sandbox;
  let fuse: BindfsMount | undefined;
  let close: (() => Promise<void>) | undefined;
  const backing = () => join(sandbox.dir, 'backing');
  const fusePoint = () => join(sandbox.dir, 'fuse');

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-heal-');
    await mkdir(backing());
    await seedSourceTree(backing(), 2);
  });

  afterEach(async () => {
    await close?.();
    close = undefined;
    if (fuse) await stopBindfs(fuse);
    fuse = undefined;
    await unmountEverythingUnder(sandbox.pods);
    await unmountEverythingUnder(join(sandbox.dir, 'staging'));
    await unmountEverythingUnder(sandbox.root);
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  async function plugin(extra: { healIntervalMs?: number } = {}): Promise<CsiClient> {
    const started = await startPlugin({ name: 'heal.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger: silentLogger, timeouts: { fsMs: 2_000 }, ...extra });
    close = started.close;
    return started.client;
  }

  async function breakSource(): Promise<void> {
    fuse!.daemon.kill('SIGKILL');
    await exited(fuse!.daemon);
    await execa('umount', ['--lazy', '--no-canonicalize', '--', fusePoint()]);
  }

  async function stage(client: CsiClient, staging: string, targets: Array<{ path: string; readOnly: boolean }>): Promise<void> {
    await mkdir(staging, { recursive: true });
    const capability = mountCapability();
    await client.node.NodeStageVolume({ volume_id: 'v', staging_target_path: staging, volume_capability: capability, volume_context: { path: fusePoint(), subPath: 'd000' } });
    for (const target of targets) {
      await mkdir(join(target.path, '..'), { recursive: true });
      await client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: target.path, volume_capability: capability, readonly: target.readOnly });
    }
  }

  /** `work`, which must settle within `limitMs`: a call held up for good by a hung share fails the test instead of hanging it. */
  async function answersWithin(work: Promise<unknown>, limitMs: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${limitMs} ms: held up`)), limitMs)));
    try {
      await Promise.race([work, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  const mountIdAt = async (path: string) => (await readMountInfo()).filter((m) => m.mountPoint === path).map((m) => m.id);

  it('NodeGetVolumeStats: abnormal while broken, normal once healed; NodePublishVolume again binds a target anew after the heal, idempotent otherwise', async () => {
    fuse = await startBindfs(sandbox, backing(), fusePoint());
    const client = await plugin();
    const staging = join(sandbox.dir, 'staging', 'v');
    const writable = { path: join(sandbox.pods, 'pod-a', 'mount'), readOnly: false };
    const readOnly = { path: join(sandbox.pods, 'pod-b', 'mount'), readOnly: true };
    await stage(client, staging, [writable, readOnly]);
    expect((await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: staging })).volume_condition.abnormal).toBe(false);

    await breakSource();
    // Nothing serves the source: the heal cannot be made, and the volume is abnormal.
    const broken = await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: staging });
    expect(broken.volume_condition).toMatchObject({ abnormal: true, message: expect.stringMatching(/broken mount|Transport endpoint/) });

    fuse = await startBindfs(sandbox, backing(), fusePoint());
    const healed = await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: staging });
    expect(healed.volume_condition.abnormal).toBe(false);
    await writeFile(join(backing(), 'd000', 'after-heal.txt'), 'live\n');
    expect(await readFile(join(staging, 'after-heal.txt'), 'utf8')).toBe('live\n');

    // The writable target, asked about with its staging path, is bound again by the stats call.
    const target = await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: writable.path, staging_target_path: staging });
    expect(target.volume_condition.abnormal).toBe(false);
    expect(await readFile(join(writable.path, 'after-heal.txt'), 'utf8')).toBe('live\n');

    // The read-only target still shows the broken mount until kubelet publishes it again.
    await expect(readFile(join(readOnly.path, 'data.txt'), 'utf8')).rejects.toMatchObject({ code: 'ENOTCONN' });
    const capability = mountCapability();
    await client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: readOnly.path, volume_capability: capability, readonly: true });
    expect(await readFile(join(readOnly.path, 'after-heal.txt'), 'utf8')).toBe('live\n');
    const entries = (await readMountInfo()).filter((m) => m.mountPoint === readOnly.path);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.mountOptions).toContain('ro');

    // Published again with nothing broken: nothing changes.
    const before = [...(await mountIdAt(readOnly.path)), ...(await mountIdAt(writable.path))];
    await client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: readOnly.path, volume_capability: capability, readonly: true });
    await client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: writable.path, volume_capability: capability });
    expect([...(await mountIdAt(readOnly.path)), ...(await mountIdAt(writable.path))]).toEqual(before);

    for (const t of [writable, readOnly]) await client.node.NodeUnpublishVolume({ volume_id: 'v', target_path: t.path });
    await client.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: staging });
    expect((await mountsUnder(sandbox.dir)).map((m) => m.mountPoint)).toEqual([fusePoint()]);
  });

  it('a hung staged volume (its FUSE daemon stopped) holds up only its own calls: each NodePublishVolume on it answers, and another volume stages, publishes and unstages meanwhile', async () => {
    fuse = await startBindfs(sandbox, backing(), fusePoint());
    const client = await plugin();
    const staging = join(sandbox.dir, 'staging', 'hung');
    const published = [0, 1, 2].map((i) => ({ path: join(sandbox.pods, `published-${i}`, 'mount'), readOnly: i === 2 }));
    await stage(client, staging, published);
    process.kill(fuse.pid, 'SIGSTOP');
    await sleep(1_500); // FUSE's attribute cache (1 s) runs out: a stat now asks the stopped daemon
    const capability = mountCapability();
    // More calls than libuv has threads (4): one stuck in each would leave none for anyone. New
    // targets, and kubelet's periodic republish of the targets published before.
    for (let i = 0; i < 6; i++) {
      const target = join(sandbox.pods, `hung-${i}`, 'mount');
      await mkdir(join(target, '..'), { recursive: true });
      const call = client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: target, volume_capability: capability });
      await answersWithin(call.catch(() => {}), 20_000, `NodePublishVolume ${i} on the hung volume`);
    }
    for (let round = 0; round < 2; round++) {
      for (const target of published) {
        const call = client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: target.path, volume_capability: capability, readonly: target.readOnly });
        await answersWithin(call.catch(() => {}), 20_000, `NodePublishVolume again of ${target.path} on the hung volume`);
      }
    }
    const other = join(sandbox.dir, 'other-source');
    await mkdir(join(other, 'd'), { recursive: true });
    const otherStaging = join(sandbox.dir, 'staging', 'other');
    const otherTarget = join(sandbox.pods, 'other', 'mount');
    await Promise.all([mkdir(otherStaging, { recursive: true }), mkdir(join(otherTarget, '..'), { recursive: true })]);
    await answersWithin(
      (async () => {
        await client.node.NodeStageVolume({ volume_id: 'w', staging_target_path: otherStaging, volume_capability: capability, volume_context: { path: other, subPath: 'd' } });
        await client.node.NodePublishVolume({ volume_id: 'w', staging_target_path: otherStaging, target_path: otherTarget, volume_capability: capability });
        await writeFile(join(otherTarget, 'written.txt'), 'through the other volume\n');
        await client.node.NodeUnpublishVolume({ volume_id: 'w', target_path: otherTarget });
        await client.node.NodeUnstageVolume({ volume_id: 'w', staging_target_path: otherStaging });
      })(),
      20_000,
      'another volume\'s stage, publish, unpublish and unstage',
    );
    expect(await readFile(join(other, 'd', 'written.txt'), 'utf8')).toBe('through the other volume\n');
    process.kill(fuse.pid, 'SIGCONT');
    for (const target of [...published.map((p) => p.path), ...[0, 1, 2, 3, 4, 5].map((i) => join(sandbox.pods, `hung-${i}`, 'mount'))]) {
      await client.node.NodeUnpublishVolume({ volume_id: 'v', target_path: target });
    }
    await client.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: staging });
    expect((await mountsUnder(sandbox.dir)).map((m) => m.mountPoint)).toEqual([fusePoint()]);
  });

  it('the optional periodic check heals a broken share with no call at all', async () => {
    fuse = await startBindfs(sandbox, backing(), fusePoint());
    const client = await plugin({ healIntervalMs: 300 });
    const staging = join(sandbox.dir, 'staging', 'periodic');
    await stage(client, staging, []);
    await breakSource();
    fuse = await startBindfs(sandbox, backing(), fusePoint());
    await writeFile(join(backing(), 'd000', 'periodic.txt'), 'healed by the timer\n');
    let seen: string | undefined;
    for (let attempt = 0; attempt < 100 && seen === undefined; attempt++) {
      await sleep(200);
      seen = await readFile(join(staging, 'periodic.txt'), 'utf8').catch(() => undefined);
    }
    expect(seen).toBe('healed by the timer\n');
    await client.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: staging });
    expect((await mountsUnder(sandbox.dir)).map((m) => m.mountPoint)).toEqual([fusePoint()]);
  });
});
