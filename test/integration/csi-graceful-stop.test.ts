/**
 * A plugin killed with a mount in flight never gets that mount stacked on its retry's (last
 * test). The CSI plugin stops gracefully on SIGTERM (every rolling update of its DaemonSet sends one),
 * also while a command runs: the call in flight answers OK, the command is never killed, and the
 * process exits 0. The plugin runs as its image runs it (examples/csi-driver, one process); the
 * SIGTERM comes from a `mount`/`umount` wrapper on its PATH at the exact moment the command runs
 * (test/helpers/crash-wrappers.ts), since a signal timed from outside would race.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { MountManager } from '../../src/mount-manager.js';
import { readMountInfo, topMounts } from '../../src/mountinfo.js';
import { writeCrashWrappers, type CrashWhen } from '../helpers/crash-wrappers.js';
import { status } from '@grpc/grpc-js';
import { csiClient, mountCapability, startPlugin as startInProcess } from '../helpers/csi-client.js';
import { createSandbox, mountsUnder, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();
const runDriver = ['--import', 'tsx', 'examples/csi-driver/driver.ts'];

async function waitForSocket(path: string, child: ResultPromise, timeoutMs: number): Promise<void> {
  let exited = false;
  void child.finally(() => (exited = true));
  for (const started = Date.now(); Date.now() - started < timeoutMs; await new Promise((resolve) => setTimeout(resolve, 50))) {
    if (await lstat(path).then((s) => s.isSocket(), () => false)) return;
    if (exited) throw new Error(`the plugin exited before serving: ${String((await child).stderr)}`);
  }
  throw new Error(`no socket at ${path} after ${timeoutMs} ms`);
}

describe.skipIf(skip)('csi: a graceful stop on SIGTERM, also while a command runs', () => {
  let sandbox: Sandbox;
  let crash: Awaited<ReturnType<typeof writeCrashWrappers>>;
  let running: ResultPromise | undefined;
  let socket: string;
  let bindRoot: string;
  let staging: string;
  let target: string;
  const volumeId = 'bind:graceful';
  const context = () => ({ backend: 'bind', path: bindRoot, subPath: 'graceful' });

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-csi-sigterm-');
    crash = await writeCrashWrappers(sandbox.dir);
    socket = join(sandbox.dir, 'csi', 'csi.sock');
    await mkdir(join(sandbox.dir, 'csi'));
    bindRoot = join(sandbox.dir, 'volumes');
    await mkdir(join(bindRoot, 'graceful'), { recursive: true });
    staging = join(sandbox.dir, 'staging');
    await mkdir(staging);
    await mkdir(join(sandbox.pods, 'pod'));
    target = join(sandbox.pods, 'pod', 'mount');
  });

  afterEach(() => {
    running?.kill('SIGKILL'); // a failed test's plugin; a passed test's has exited already
    running = undefined;
  });

  afterAll(async () => {
    await unmountEverythingUnder(sandbox.dir);
    await sandbox?.cleanup();
  });

  /** The plugin as a process, its `mount`/`umount` sending `signals` when `commandTarget` is theirs. */
  function startPlugin(commandTarget: string, when: CrashWhen, signals: string, done: string, sleep = '0.25'): ResultPromise {
    const child = execa(process.execPath, [...runDriver, `--endpoint=unix://${socket}`, '--node-id=node-1', `--root=${sandbox.root}`, `--bind-root=${bindRoot}`], {
      reject: false,
      env: { ...crash.env(commandTarget, when, done, signals), SM_CRASH_SLEEP: sleep },
    });
    running = child;
    return child;
  }

  /** Starts the plugin, makes one call through it, and returns the call's answer and the plugin's exit. */
  async function callDuringStop(commandTarget: string, when: CrashWhen, call: (client: Awaited<ReturnType<typeof csiClient>>) => Promise<unknown>, signals = 'TERM') {
    const done = join(sandbox.dir, `done-${Date.now()}`);
    const child = startPlugin(commandTarget, when, signals, done);
    await waitForSocket(socket, child, 60_000);
    const client = await csiClient(socket);
    try {
      const answer = await call(client).then(
        (value) => ({ ok: true, value }),
        (error: { code?: number; details?: string }) => ({ ok: false, code: error.code, details: error.details }),
      );
      const exit = await child;
      return { answer, exit: { exitCode: exit.exitCode, signal: exit.signal ?? null, stderr: String(exit.stderr) }, commandFinished: existsSync(done) };
    } finally {
      client.close();
    }
  }

  const stage = (client: Awaited<ReturnType<typeof csiClient>>) =>
    client.node.NodeStageVolume({ volume_id: volumeId, staging_target_path: staging, volume_capability: mountCapability(), volume_context: context() });
  const unstage = (client: Awaited<ReturnType<typeof csiClient>>) => client.node.NodeUnstageVolume({ volume_id: volumeId, staging_target_path: staging });
  const publishReadOnly = (client: Awaited<ReturnType<typeof csiClient>>) =>
    client.node.NodePublishVolume({ volume_id: volumeId, staging_target_path: staging, target_path: target, readonly: true, volume_capability: mountCapability(), volume_context: context() });
  const unpublish = (client: Awaited<ReturnType<typeof csiClient>>) => client.node.NodeUnpublishVolume({ volume_id: volumeId, target_path: target });
  const mounted = async (path: string) => topMounts(await readMountInfo()).get(path);
  /** The same plugin in this process (no wrappers on its PATH), as a CO's retry reaches it. */
  const startHere = () =>
    startInProcess({ name: 'sharemount.example.com', vendorVersion: '0.1.0', nodeId: 'node-1', endpoint: `unix://${socket}`, root: sandbox.root, backends: [bindBackend({ allowedPaths: [bindRoot] })] });

  it("SIGTERM during a stage's mount, a read-only publish's ro step and an unstage's umount: each call answers OK, the plugin exits 0", async () => {
    const staged = await callDuringStop(staging, 'during', stage);
    expect(staged).toMatchObject({ answer: { ok: true }, exit: { exitCode: 0, signal: null }, commandFinished: true });
    expect(await mounted(staging)).toBeDefined();
    expect(existsSync(socket)).toBe(false); // removed on the way out

    const published = await callDuringStop(target, 'split', publishReadOnly);
    expect(published).toMatchObject({ answer: { ok: true }, exit: { exitCode: 0, signal: null }, commandFinished: true });
    expect((await mounted(target))?.mountOptions).toContain('ro');

    const unstaged = await callDuringStop(staging, 'during', async (client) => {
      await unpublish(client);
      return unstage(client);
    });
    expect(unstaged).toMatchObject({ answer: { ok: true }, exit: { exitCode: 0, signal: null }, commandFinished: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('a second SIGTERM while stopping changes nothing: the call still answers OK and the plugin exits 0', async () => {
    const staged = await callDuringStop(staging, 'during', stage, 'TERM TERM');
    expect(staged).toMatchObject({ answer: { ok: true }, exit: { exitCode: 0, signal: null }, commandFinished: true });
    expect(staged.exit.stderr).toContain('asked to stop again');
    expect(await mounted(staging)).toBeDefined();

    const unstaged = await callDuringStop(staging, 'during', unstage, 'TERM INT');
    expect(unstaged).toMatchObject({ answer: { ok: true }, exit: { exitCode: 0, signal: null }, commandFinished: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it("a killed plugin's mount that lands late never stacks on the retry's: the retry waits for it (the target's lock) and finds it made", async () => {
    // Staged by a plugin in this process, which stays up to make the retry.
    const retry = await startHere();
    try {
      await stage(retry.client);
      await retry.close();
      // A plugin process killed (SIGKILL) as its read-only bind starts; its mount(8) runs 2 s later.
      const done = join(sandbox.dir, 'done-orphan');
      const child = startPlugin(target, 'during', 'KILL', done, '2');
      await waitForSocket(socket, child, 60_000);
      const killed = await csiClient(socket);
      await expect(publishReadOnly(killed)).rejects.toMatchObject({ code: status.UNAVAILABLE });
      killed.close();
      expect((await child).signal).toBe('SIGKILL');
      expect(existsSync(done)).toBe(false); // the orphan has not mounted yet

      // The CO retries at once, through a new plugin.
      const again = await startHere();
      try {
        await publishReadOnly(again.client);
        expect(existsSync(done)).toBe(true); // the retry waited for the orphan
        const layers = (await readMountInfo()).filter((entry) => entry.mountPoint === target);
        expect(layers).toHaveLength(1);
        expect(layers[0]!.mountOptions).toContain('ro');
        await unpublish(again.client);
        await unstage(again.client);
      } finally {
        await again.close();
      }
      expect(await mountsUnder(sandbox.dir)).toEqual([]);
    } finally {
      await retry.close().catch(() => {});
    }
  });

  it("a SIGTERM during start-up (its reconcile's umount): the reconcile finishes, the plugin never serves and exits 0", async () => {
    // A share left mounted with no publication: the start-up reconcile unmounts it.
    const manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: [bindRoot] })] });
    const left = join(sandbox.pods, 'left');
    const publication = await manager.publish({ source: { backend: 'bind', path: bindRoot }, target: left });
    await execa('umount', ['--', left]);
    const done = join(sandbox.dir, 'done-start');
    const child = startPlugin(publication.sharePath, 'during', 'TERM', done);
    const exit = await child;
    expect({ exitCode: exit.exitCode, signal: exit.signal ?? null }).toEqual({ exitCode: 0, signal: null });
    expect(existsSync(done)).toBe(true);
    expect(String(exit.stderr)).not.toContain('serving CSI');
    expect(existsSync(socket)).toBe(false);
    expect(await mounted(publication.sharePath)).toBeUndefined();
    expect(await manager.list()).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});
