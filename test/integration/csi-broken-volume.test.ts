/**
 * Invariant 8 through the CSI shim: a volume whose source stopped answering (a bindfs daemon
 * killed: ENOTCONN) is reported abnormal by NodeGetVolumeStats, and still unpublishes and
 * unstages cleanly, leaving no mount behind.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { bindfsAvailable, startBindfs, stopBindfs, type BindfsMount } from '../helpers/bindfs.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { exited } from '../helpers/processes.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady([{ what: 'bindfs and /dev/fuse (apt-get install bindfs fuse3)', ok: bindfsAvailable }]);

describe.skipIf(skip)('csi: a volume whose mount broke', () => {
  let sandbox: Sandbox;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  let fuse: BindfsMount;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-broken-');
    await seedSourceTree(sandbox.source, 2);
    fuse = await startBindfs(sandbox, sandbox.source, join(sandbox.dir, 'fuse'));
    ({ client, close } = await startPlugin({ name: 'broken.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger: silentLogger, timeouts: { fsMs: 2_000 } }));
  });

  afterAll(async () => {
    await close?.();
    if (fuse) await stopBindfs(fuse);
    await sandbox?.cleanup();
  });

  it('stats say abnormal, and unpublish and unstage still succeed', async () => {
    const staging = join(sandbox.dir, 'staging');
    const target = join(sandbox.pods, 'pod', 'mount');
    await mkdir(staging);
    await mkdir(join(sandbox.pods, 'pod'));
    const capability = mountCapability();
    await client.node.NodeStageVolume({ volume_id: 'v', staging_target_path: staging, volume_capability: capability, volume_context: { path: fuse.mountPoint, subPath: 'd000' } });
    await client.node.NodePublishVolume({ volume_id: 'v', staging_target_path: staging, target_path: target, volume_capability: capability });
    expect(await readFile(join(target, 'data.txt'), 'utf8')).toBe('contents of d000\n');
    const healthy = await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: target });
    expect(healthy.volume_condition.abnormal).toBe(false);

    fuse.daemon.kill('SIGKILL');
    await exited(fuse.daemon);
    const broken = await client.node.NodeGetVolumeStats({ volume_id: 'v', volume_path: target });
    expect(broken.volume_condition.abnormal).toBe(true);
    expect(broken.volume_condition.message).toMatch(/broken mount|Transport endpoint/);
    expect(broken.usage).toEqual([]);

    await client.node.NodeUnpublishVolume({ volume_id: 'v', target_path: target });
    await client.node.NodeUnstageVolume({ volume_id: 'v', staging_target_path: staging });
    const left = (await mountsUnder(sandbox.dir)).map((m) => m.mountPoint);
    expect(left).toEqual([fuse.mountPoint]);
  });
});
