/**
 * examples/csi-driver runs as its container runs it: a process started with the sidecars'
 * flags, serving on its socket until SIGTERM, then gone with its socket removed.
 */
import { lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { status } from '@grpc/grpc-js';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csiClient } from '../helpers/csi-client.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import { createLvmEnv, missingLvmPrerequisite } from '../helpers/lvm-env.js';

const skip = skipUnlessReady([{ what: 'lvm2 and loop devices', ok: () => missingLvmPrerequisite() === undefined }]);
// One process, as in its image (tsx's own CLI would run the driver in a child of its own, which
// a SIGKILL of the parent leaves running).
const runDriver = ['--import', 'tsx', 'examples/csi-driver/driver.ts'];

/** Waits until the socket at `path` answers (a stale file there does not count). */
async function waitForStartedAgain(path: string, timeoutMs: number): Promise<void> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const answers = await new Promise<boolean>((resolve) => {
      const socket = connect(path);
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (answers) return;
  }
  throw new Error(`nothing answers on ${path} after ${timeoutMs} ms`);
}

async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await lstat(path).then((s) => s.isSocket(), () => false)) return;
  }
  throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
}

describe.skipIf(skip)('examples/csi-driver', () => {
  let sandbox: Sandbox;
  let running: { kill(signal: NodeJS.Signals): boolean } | undefined;
  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-example-');
  });
  afterAll(async () => {
    running?.kill('SIGKILL'); // a failed test's driver; a passed test's has exited already
    await sandbox?.cleanup();
  });

  it('serves Prometheus metrics with --metrics-address, and stops serving them on SIGTERM', async () => {
    const socket = join(sandbox.dir, 'metrics-csi.sock');
    const child = execa(process.execPath, [...runDriver, `--endpoint=unix://${socket}`, '--node-id=node-8', `--root=${sandbox.root}`, `--bind-root=${join(sandbox.dir, 'volumes')}`, '--metrics-address=127.0.0.1:0'], { reject: false });
    running = child;
    // The plugin logs where it serves them (JSON lines on stderr): port 0 is a free port.
    const port = await new Promise<number>((resolve, reject) => {
      let text = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const line = text.split('\n').find((l) => l.includes('"serving metrics"'));
        if (line !== undefined) resolve((JSON.parse(line) as { port: number }).port);
      });
      void child.then(() => reject(new Error(`the driver exited: ${text}`)));
    });
    await waitForSocket(socket, 30_000);
    const client = await csiClient(socket);
    try {
      await client.identity.GetPluginInfo({});
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toContain('sharemount_csi_calls_total{method="GetPluginInfo",code="OK"} 1');
      expect(text).toContain('sharemount_shares_mounted{backend="nfs"} 0');
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect((await child).exitCode).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/metrics`)).rejects.toThrow();
  });

  it('refuses a --metrics-address that is not HOST:PORT, naming the flag', async () => {
    const result = await execa(process.execPath, [...runDriver, `--endpoint=unix://${join(sandbox.dir, 'bad.sock')}`, '--node-id=n', `--root=${sandbox.root}`, '--metrics-address=9808'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('--metrics-address: "9808" is not HOST:PORT');
  });

  it('serves nfs, lvm and bind volumes on its endpoint, creates bind volumes, and stops cleanly on SIGTERM', async () => {
    const socket = join(sandbox.dir, 'csi', 'csi.sock');
    await mkdir(join(sandbox.dir, 'csi'));
    const bindRoot = join(sandbox.dir, 'volumes');
    const child = execa(process.execPath, [...runDriver, `--endpoint=unix://${socket}`, '--node-id=node-7', `--root=${sandbox.root}`, `--bind-root=${bindRoot}`], { reject: false });
    running = child;
    await waitForSocket(socket, 30_000);
    const client = await csiClient(socket);
    try {
      expect(await client.identity.GetPluginInfo({})).toMatchObject({ name: 'sharemount.example.com', vendor_version: '0.1.0' });
      expect(await client.node.NodeGetInfo({})).toMatchObject({ node_id: 'node-7' });
      // Three backends: a volume must say which one it is.
      await mkdir(join(sandbox.dir, 'staging'));
      const error = await client.node
        .NodeStageVolume({ volume_id: 'v', staging_target_path: join(sandbox.dir, 'staging'), volume_capability: { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }, volume_context: { path: sandbox.source } })
        .catch((e: { details: string }) => e);
      expect((error as { details: string }).details).toBe('volume_context.backend: is required: this driver serves nfs, lvm, bind');

      // A bind volume made by the plugin's Controller service, then used on the node.
      const capability = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
      const { volume } = await client.controller.CreateVolume({ name: 'pvc-example', volume_capabilities: [capability], parameters: { backend: 'bind', path: bindRoot } });
      expect(volume).toMatchObject({ volume_id: 'bind:pvc-example', volume_context: { backend: 'bind', path: bindRoot, subPath: 'pvc-example' } });
      await mkdir(join(sandbox.dir, 'staging-example'));
      await mkdir(join(sandbox.pods, 'pod-example'));
      const staged = { volume_id: volume.volume_id, staging_target_path: join(sandbox.dir, 'staging-example') };
      const target = join(sandbox.pods, 'pod-example', 'mount');
      await client.node.NodeStageVolume({ ...staged, volume_capability: capability, volume_context: volume.volume_context });
      await client.node.NodePublishVolume({ ...staged, target_path: target, volume_capability: capability, volume_context: volume.volume_context });
      expect(await mountsUnder(sandbox.pods)).toHaveLength(1);
      await writeFile(join(target, 'hello'), 'from the pod');
      await client.node.NodeUnpublishVolume({ volume_id: volume.volume_id, target_path: target });
      await client.node.NodeUnstageVolume(staged);
      // Snapshots, clones and listings, served by the same process.
      const { snapshot } = await client.controller.CreateSnapshot({ name: 'snap-example', source_volume_id: volume.volume_id });
      expect(snapshot).toMatchObject({ snapshot_id: 'bind:snap-example', ready_to_use: true });
      const restored = (await client.controller.CreateVolume({ name: 'pvc-restored', volume_capabilities: [capability], parameters: { backend: 'bind', path: bindRoot }, volume_content_source: { snapshot: { snapshot_id: snapshot.snapshot_id } } })).volume;
      expect(await readFile(join(bindRoot, 'pvc-restored', 'hello'), 'utf8')).toBe('from the pod');
      // (The LVM backend lists the host's LVs too: only the bind ones are this test's.)
      expect((await client.controller.ListVolumes({})).entries.map((e: { volume: { volume_id: string } }) => e.volume.volume_id).filter((id: string) => id.startsWith('bind:'))).toEqual(['bind:pvc-example', 'bind:pvc-restored']);
      expect((await client.controller.ListSnapshots({ source_volume_id: volume.volume_id })).entries).toEqual([{ snapshot }]);
      for (const id of [volume.volume_id, restored.volume_id]) await client.controller.DeleteVolume({ volume_id: id });
      await client.controller.DeleteSnapshot({ snapshot_id: snapshot.snapshot_id });
      expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(0);
    await expect(lstat(socket)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('killed with SIGKILL while a volume is staged: started again, it replaces the dead socket and the volume unstages cleanly', async () => {
    const socket = join(sandbox.dir, 'killed.sock');
    const staging = join(sandbox.dir, 'staging-killed');
    await mkdir(staging);
    const bindRoot = join(sandbox.dir, 'volumes');
    await mkdir(bindRoot, { recursive: true });
    await seedSourceTree(bindRoot, 1);
    const start = () => {
      const child = execa(process.execPath, [...runDriver, `--endpoint=${socket}`, '--node-id=node-7', `--root=${sandbox.root}`, `--bind-root=${join(sandbox.dir, 'volumes')}`], { reject: false });
      running = child;
      return child;
    };
    const request = { volume_id: 'v', staging_target_path: staging };
    const first = start();
    await waitForSocket(socket, 30_000);
    let client = await csiClient(socket);
    await client.node.NodeStageVolume({ ...request, volume_capability: { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }, volume_context: { backend: 'bind', path: bindRoot, subPath: 'd000' } });
    // A PV naming a host directory outside the driver's own is refused on the node.
    await expect(client.node.NodeStageVolume({ ...request, volume_id: 'w', staging_target_path: join(sandbox.dir, 'staging-other'), volume_capability: { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } }, volume_context: { backend: 'bind', path: sandbox.source, subPath: '' } })).rejects.toMatchObject({ code: 3, details: expect.stringContaining('the host directories this driver serves') });
    client.close();
    first.kill('SIGKILL');
    await first;
    expect((await lstat(socket)).isSocket()).toBe(true); // a dead plugin's socket stays behind

    const second = start();
    await waitForStartedAgain(socket, 30_000);
    client = await csiClient(socket);
    try {
      expect(await readFile(join(staging, 'data.txt'), 'utf8')).toBe('contents of d000\n');
      await client.node.NodeUnstageVolume(request);
    } finally {
      client.close();
    }
    expect(await mountsUnder(sandbox.dir)).toHaveLength(0);
    second.kill('SIGTERM');
    expect((await second).exitCode).toBe(0);
  });

  it('bundled as its image bundles it (one file beside the proto), starts and answers', async () => {
    // The Dockerfile's build step and layout: /plugin/driver.mjs beside /plugin/proto.
    const image = join(sandbox.dir, 'plugin');
    await execa('bash', ['examples/csi-driver/bundle.sh', image]);
    const socket = join(sandbox.dir, 'bundled.sock');
    const child = execa(process.execPath, [join(image, 'driver.mjs'), `--endpoint=${socket}`, '--node-id=node-7', `--root=${sandbox.root}`, `--bind-root=${join(sandbox.dir, 'volumes')}`], { reject: false, cwd: sandbox.dir });
    running = child;
    await waitForSocket(socket, 30_000);
    const client = await csiClient(socket);
    try {
      expect(await client.identity.GetPluginInfo({})).toMatchObject({ name: 'sharemount.example.com' });
    } finally {
      client.close();
    }
    child.kill('SIGTERM');
    expect((await child).exitCode).toBe(0);
  });

  it("as shipped, refuses a volume naming the node's root LV or /etc (what a pod author writes in an inline volume), naming the opt-in, and mounts nothing", async () => {
    const vg = 'smcsiexample';
    const lvm = await createLvmEnv({ vg, sizeBytes: 256 * 1024 ** 2 });
    let child: ReturnType<typeof execa> | undefined;
    let client: Awaited<ReturnType<typeof csiClient>> | undefined;
    try {
      // An LV of the node's own, as `vg0/root` would be: made by nobody but the node's installer.
      await lvm.lvm('lvcreate', ['--yes', '--size', '16m', '--name', 'root', vg]);
      const device = await lvm.standIn(vg, 'root');
      const socket = join(sandbox.dir, 'shipped.sock');
      // The driver's lvm2 sees the test's VG through LVM_SYSTEM_DIR, and nothing else of the host's.
      child = execa(process.execPath, [...runDriver, `--endpoint=${socket}`, '--node-id=node-7', `--root=${sandbox.root}`, `--bind-root=${join(sandbox.dir, 'volumes')}`], { reject: false, env: lvm.lvmOptions.env! });
      running = child;
      await waitForSocket(socket, 30_000);
      client = await csiClient(socket);
      const capability = { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } };
      const staging = join(sandbox.dir, 'staging-shipped');
      await mkdir(staging);
      const stage = (volume_id: string, volume_context: Record<string, string>) =>
        client!.node.NodeStageVolume({ volume_id, staging_target_path: staging, volume_capability: capability, volume_context }).catch((e: { code: number; details: string }) => e);

      expect(await stage(`${vg}/root`, { backend: 'lvm', volumeGroup: vg, logicalVolume: 'root' })).toMatchObject({
        code: status.FAILED_PRECONDITION,
        details: expect.stringMatching(/smcsiexample\/root does not carry the tag "sharemount".*lvchange --addtag sharemount.*mountAnyLogicalVolume/),
      });
      expect(await stage('etc', { backend: 'bind', path: '/etc' })).toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: expect.stringMatching(/source\.path: must be inside .*, the host directories this driver serves \(the bind backend's option allowedPaths\)/),
      });
      expect(await mountsUnder(sandbox.dir)).toEqual([]);
      expect(await readdir(staging)).toEqual([]);
      await expect(execa('blkid', ['-p', device])).rejects.toMatchObject({ exitCode: 2 }); // never formatted
    } finally {
      client?.close();
      child?.kill('SIGTERM');
      if (child) expect((await child).exitCode).toBe(0);
      await lvm.cleanup();
    }
  });

  it('refuses to start without a node id, naming the option', async () => {
    const result = await execa(process.execPath, [...runDriver, `--endpoint=unix://${join(sandbox.dir, 'x.sock')}`, `--root=${sandbox.root}`], { reject: false });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toBe('sharemount-csi: options.nodeId: is required');
  });
});
