/**
 * The plugin's Prometheus endpoint (docs/metrics.md): started with `metrics` on an ephemeral
 * port of 127.0.0.1, real gRPC calls over the unix socket, real bind mounts, then the HTTP
 * endpoint scraped and its series read: calls by method and code with their latency histogram,
 * shares mounted, publications, a broken share (unmounted behind the plugin's back) and the
 * copied-bytes counter the snapshot and clone code records into. Without `metrics` nothing
 * listens and prom-client is never loaded.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { silentLogger } from '../../src/logger.js';
import { mountCapability, startPlugin, type CsiClient } from '../helpers/csi-client.js';
import { expectStatus } from '../helpers/csi-expect.js';
import { createSandbox, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import type { CsiPlugin } from '../../src/csi/index.js';

const skip = skipUnlessReady();

/** The value of one series (`name{labels}`) in an exposition text; undefined when absent. */
function valueOf(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(skip)('csi: Prometheus metrics', () => {
  let sandbox: Sandbox;
  let plugin: CsiPlugin;
  let client: CsiClient;
  let close: (() => Promise<void>) | undefined;
  let url: string;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-metrics-');
    await seedSourceTree(sandbox.source, 2);
    const options = { name: 'metrics.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'csi.sock'), backends: [bindBackend({ allowedPaths: ['/'] })], root: sandbox.root, logger: silentLogger };
    ({ plugin, client, close } = await startPlugin({ ...options, metrics: { port: 0, host: '127.0.0.1' } }));
    const address = plugin.metricsAddress();
    expect(address).toMatchObject({ host: '127.0.0.1' });
    url = `http://127.0.0.1:${address!.port}/metrics`;
  });

  afterAll(async () => {
    await close?.();
    await sandbox?.cleanup();
  });

  const scrape = async () => {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    return response.text();
  };

  it('counts calls by method and code, with a latency histogram, and the shares and publications on scrape', async () => {
    const staging = (pv: string) => join(sandbox.dir, 'staging', pv);
    for (const pv of ['pv-a', 'pv-b']) {
      await mkdir(staging(pv), { recursive: true });
      await client.node.NodeStageVolume({ volume_id: pv, staging_target_path: staging(pv), volume_capability: mountCapability(), volume_context: { path: sandbox.source, subPath: pv === 'pv-a' ? 'd000' : 'd001' } });
    }
    await client.node.NodeStageVolume({ volume_id: 'pv-a', staging_target_path: staging('pv-a'), volume_capability: mountCapability(), volume_context: { path: sandbox.source, subPath: 'd000' } });
    await expectStatus(client.node.NodeStageVolume({ volume_id: 'pv-x', staging_target_path: staging('pv-x'), volume_capability: mountCapability(), volume_context: { path: sandbox.source, subPath: '..' } }), status.INVALID_ARGUMENT, 'subPath');
    await client.identity.Probe({});

    let text = await scrape();
    expect(valueOf(text, 'sharemount_csi_calls_total{method="NodeStageVolume",code="OK"}')).toBe(3);
    expect(valueOf(text, 'sharemount_csi_calls_total{method="NodeStageVolume",code="INVALID_ARGUMENT"}')).toBe(1);
    expect(valueOf(text, 'sharemount_csi_calls_total{method="Probe",code="OK"}')).toBe(1);
    expect(valueOf(text, 'sharemount_csi_call_duration_seconds_count{method="NodeStageVolume",code="OK"}')).toBe(3);
    expect(valueOf(text, 'sharemount_csi_call_duration_seconds_bucket{le="+Inf",method="NodeStageVolume",code="OK"}')).toBe(3);
    expect(valueOf(text, 'sharemount_csi_call_duration_seconds_sum{method="NodeStageVolume",code="OK"}')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE sharemount_csi_call_duration_seconds histogram');
    // Two PVs in one host directory: one share, two publications (the staging paths).
    expect(valueOf(text, 'sharemount_shares_mounted{backend="bind"}')).toBe(1);
    expect(valueOf(text, 'sharemount_publications{backend="bind"}')).toBe(2);
    expect(valueOf(text, 'sharemount_shares_broken{backend="bind"}')).toBe(0);
    expect(valueOf(text, 'sharemount_shares_hung{backend="bind"}')).toBe(0);

    // The share's own mount taken away behind the plugin's back: still referenced, so broken.
    const [share] = await plugin.manager.list();
    await execa('umount', ['--lazy', '--', share!.mountPoint]);
    text = await scrape();
    expect(valueOf(text, 'sharemount_shares_mounted{backend="bind"}')).toBe(0);
    expect(valueOf(text, 'sharemount_shares_broken{backend="bind"}')).toBe(1);

    for (const pv of ['pv-a', 'pv-b']) await client.node.NodeUnstageVolume({ volume_id: pv, staging_target_path: staging(pv) });
    text = await scrape();
    expect(valueOf(text, 'sharemount_publications{backend="bind"}')).toBe(0);
    expect(valueOf(text, 'sharemount_shares_broken{backend="bind"}')).toBe(0);
    expect(valueOf(text, 'sharemount_csi_calls_total{method="NodeUnstageVolume",code="OK"}')).toBe(2);
  });

  it('exposes the bytes snapshots and clones copied, as their code records them', async () => {
    plugin.metrics.recordCopiedBytes('snapshot', 4096, 'bind');
    plugin.metrics.recordCopiedBytes('snapshot', 1000, 'bind');
    plugin.metrics.recordCopiedBytes('clone', 512, 'lvm');
    const text = await scrape();
    expect(valueOf(text, 'sharemount_copied_bytes_total{kind="snapshot",backend="bind"}')).toBe(5096);
    expect(valueOf(text, 'sharemount_copied_bytes_total{kind="clone",backend="lvm"}')).toBe(512);
  });

  it('counts the bytes a snapshot and a clone copied, measured only with metrics on', async () => {
    const volumesRoot = join(sandbox.dir, 'volumes');
    const backends = [bindBackend({ provisioning: { root: volumesRoot, onDelete: 'delete', copyWorkDir: join(sandbox.dir, 'copies') } })];
    const snap = await startPlugin({ name: 'snapmetrics.example.com', vendorVersion: '1', nodeId: 'node-1', endpoint: join(sandbox.dir, 'snap.sock'), backends, root: join(sandbox.dir, 'snap-root'), logger: silentLogger, metrics: { port: 0 } });
    try {
      const { volume } = await snap.client.controller.CreateVolume({ name: 'pvc-src', volume_capabilities: [mountCapability()], capacity_range: { required_bytes: 8 * 1024 ** 2 }, parameters: { path: volumesRoot } });
      const dir = join(volumesRoot, volume.volume_context.subPath as string);
      await writeFile(join(dir, 'a.bin'), Buffer.alloc(100_000, 1));
      await mkdir(join(dir, 'sub'));
      await writeFile(join(dir, 'sub', 'b.bin'), Buffer.alloc(23_456, 2));
      // What the copy holds, as du counts it (files, and the directories' own sizes).
      const treeBytes = Number((await execa('du', ['--summarize', '--apparent-size', '--block-size=1', '--', dir])).stdout.split(/\s/)[0]);
      expect(treeBytes).toBeGreaterThanOrEqual(123_456);
      const { snapshot } = await snap.client.controller.CreateSnapshot({ name: 'snap-1', source_volume_id: volume.volume_id });
      await snap.client.controller.CreateSnapshot({ name: 'snap-1', source_volume_id: volume.volume_id }); // a repeat copies nothing
      await snap.client.controller.CreateVolume({ name: 'pvc-restored', volume_capabilities: [mountCapability()], capacity_range: { required_bytes: 8 * 1024 ** 2 }, parameters: { path: volumesRoot }, volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } });
      await snap.client.controller.CreateVolume({ name: 'pvc-clone', volume_capabilities: [mountCapability()], capacity_range: { required_bytes: 8 * 1024 ** 2 }, parameters: { path: volumesRoot }, volume_content_source: { volume: { volume_id: volume.volume_id } } });
      const text = await (await fetch(`http://127.0.0.1:${snap.plugin.metricsAddress()!.port}/metrics`)).text();
      expect(valueOf(text, 'sharemount_copied_bytes_total{kind="snapshot",backend="bind"}')).toBe(treeBytes);
      expect(valueOf(text, 'sharemount_copied_bytes_total{kind="clone",backend="bind"}')).toBe(2 * treeBytes);
    } finally {
      await snap.close();
    }
  });

  it('answers 404 off /metrics', async () => {
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('is off by default: no listener, and prom-client is not loaded', async () => {
    const script = `
      import { registerHooks } from 'node:module';
      let promClient = false;
      registerHooks({ resolve(specifier, context, next) { if (/^prom-client(\\/|$)/.test(specifier)) promClient = true; return next(specifier, context); } });
      const { createCsiPlugin } = await import('./src/csi/index.ts');
      const { bindBackend } = await import('./src/backends/bind.ts');
      const { silentLogger } = await import('./src/logger.ts');
      const plugin = createCsiPlugin({ name: 'off.example.com', vendorVersion: '1', nodeId: 'n', endpoint: process.argv[1], backends: [bindBackend({ allowedPaths: ['/'] })], root: process.argv[2], logger: silentLogger });
      await plugin.start();
      const tcp = process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP'));
      console.log(JSON.stringify({ tcp, promClient, address: plugin.metricsAddress() ?? null }));
      await plugin.stop();`;
    const { stdout } = await execa('node', ['--import', 'tsx', '--input-type=module', '-e', script, join(sandbox.dir, 'off.sock'), join(sandbox.dir, 'off-root')], { cwd: process.cwd(), timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({ tcp: [], promClient: false, address: null });
    expect(plugin.metricsAddress()).toBeDefined();
  });
});
