import { readlinkSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { installDriver } from '../helpers/flexvolume-drivers.js';
import { FakeKubelet, type PodInfo } from '../helpers/kubelet.js';
import { expectFailure, expectOneReply } from '../helpers/flexvolume-reply.js';
import { helperPids, pidsThatLogged, stopHelpers, talkToHelper, waitForHelpers, waitForSocket } from '../helpers/flexvolume-helper.js';

// The resident helper (docs/flexvolume.md): the bind test driver's single executable, called as
// kubelet calls it, answering through a helper that its first call starts; and the helper's
// socket spoken to directly, the way a caller of another build, another mount namespace or a
// hostile local process would.
const notRoot = process.getuid?.() !== 0;
if (notRoot && process.env.CI !== 'true') console.warn('skipping FlexVolume helper tests: they need root (real mounts)');
const suite = notRoot && process.env.CI !== 'true' ? describe.skip : describe;

suite('FlexVolume resident helper', () => {
  let sandbox: Sandbox;
  let kubelet: FakeKubelet;
  let logFile: string;
  let helperDir: string;
  let socket: string;
  let env: Record<string, string>;
  const pod = (i: number): PodInfo => ({ name: `pod-${i}`, namespace: 'default', uid: `0000-${String(i).padStart(4, '0')}` });
  const volume = () => ({ options: { path: sandbox.source }, pvOrVolumeName: 'data' });
  /** The running helper's line "resident helper serving" (its pid and build), once it is in the log. */
  const serving = async () => {
    for (let i = 0; i < 100; i++) {
      const [pid] = await helperPids(helperDir);
      const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line.includes('"resident helper serving"'));
      const line = lines.map((text) => JSON.parse(text) as { pid: number; build: string }).find((entry) => entry.pid === pid);
      if (line !== undefined) return line;
      await sleep(50);
    }
    throw new Error('no helper is serving');
  };
  const request = (fields: Record<string, unknown> = {}) =>
    `${JSON.stringify({ build: 'x', mountNamespace: readlinkSync('/proc/self/ns/mnt'), argv: ['init'], env: {}, ...fields })}\n`;

  beforeAll(async () => {
    if (notRoot) throw new Error('FlexVolume integration tests need root');
    sandbox = await createSandbox('sharemount-flexhelper-');
    logFile = join(sandbox.dir, 'log', 'driver.log');
    helperDir = join(sandbox.dir, 'helper');
    socket = join(helperDir, 'sharemount~bind.sock');
    const executable = await installDriver('sharemount~bind', join(sandbox.dir, 'plugins'));
    env = { SHAREMOUNT_ROOT: sandbox.root, SHAREMOUNT_LOG: logFile, SHAREMOUNT_CONFIG: join(sandbox.dir, 'config.json'), SHAREMOUNT_HELPER_DIR: helperDir };
    await writeFile(env.SHAREMOUNT_CONFIG!, '{}');
    kubelet = new FakeKubelet({ executable, driverDir: 'sharemount~bind', kubeletRoot: join(sandbox.dir, 'kubelet'), env });
  }, 180_000);

  afterEach(async () => {
    await stopHelpers(helperDir);
  });

  afterAll(async () => {
    if (helperDir !== undefined) await stopHelpers(helperDir);
    await sandbox?.cleanup();
  });

  it('the first call answers itself and starts a helper; the calls after it are answered by the helper, with the same mount table', async () => {
    expect(await helperPids(helperDir)).toEqual([]);
    const first = await kubelet.mountVolume(pod(1), 'data', volume());
    expect(first.ok, first.error).toBe(true);
    const [helper] = await waitForHelpers(helperDir, 1);
    expect(helper).toBeDefined();
    await waitForSocket(socket);
    const mode = await stat(socket);
    expect(mode.isSocket()).toBe(true);
    expect(mode.mode & 0o777).toBe(0o600);
    expect((await stat(helperDir)).mode & 0o777).toBe(0o700);

    for (let i = 2; i <= 10; i++) expect((await kubelet.mountVolume(pod(i), 'data', volume())).ok).toBe(true);
    const mountedBy = await pidsThatLogged(logFile, 'mounted');
    expect(mountedBy).toHaveLength(10);
    expect(mountedBy[0]).not.toBe(helper);
    expect(mountedBy.slice(1)).toEqual(Array(9).fill(helper));
    const pods = (await mountsUnder(join(sandbox.dir, 'kubelet'))).map((m) => m.mountPoint);
    expect(pods).toHaveLength(10);
    expect((await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'))).toHaveLength(1); // one share

    for (let i = 1; i <= 10; i++) expect((await kubelet.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
    expect(await pidsThatLogged(logFile, 'unmounted')).toEqual(Array(10).fill(helper));
    expect(await mountsUnder(sandbox.dir)).toEqual([]); // the last one unmounted the share
    expect(await helperPids(helperDir)).toEqual([helper]); // and the helper serves on
  });

  it('calls in parallel (a node starting its pods): a single helper starts and answers the calls after it, side by side; one share, 20 publications', async () => {
    const pods = Array.from({ length: 20 }, (_, i) => pod(40 + i));
    const first = await Promise.all(pods.slice(0, 10).map((p) => kubelet.mountVolume(p, 'data', volume()))); // no helper yet
    expect(first.map((op) => op.error)).toEqual(Array(10).fill(undefined));
    const [helper] = await waitForHelpers(helperDir, 1);
    await waitForSocket(socket);
    await sleep(300);
    expect(await helperPids(helperDir)).toEqual([helper]); // one helper, whoever started it
    const rest = await Promise.all(pods.slice(10).map((p) => kubelet.mountVolume(p, 'data', volume())));
    expect(rest.map((op) => op.error)).toEqual(Array(10).fill(undefined));
    expect((await pidsThatLogged(logFile, 'mounted')).slice(-10)).toEqual(Array(10).fill(helper));
    expect((await mountsUnder(join(sandbox.dir, 'kubelet'))).length).toBe(20);
    expect((await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'))).toHaveLength(1);
    const gone = await Promise.all(pods.map((p) => kubelet.unmountVolume(p.uid, 'data')));
    expect(gone.map((op) => op.error)).toEqual(Array(20).fill(undefined));
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('SHAREMOUNT_HELPER=off: every call answers itself and no helper starts', async () => {
    const off = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_HELPER: 'off' } });
    expect((await off.mountVolume(pod(20), 'data', volume())).ok).toBe(true);
    expect((await off.unmountVolume(pod(20).uid, 'data')).ok).toBe(true);
    await sleep(300);
    expect(await helperPids(helperDir)).toEqual([]);
  });

  it('a helper directory open to others: no helper serves, the calls still succeed, and why is logged', async () => {
    const open = join(sandbox.dir, 'open-helper');
    await mkdir(open, { mode: 0o777 });
    await chmod(open, 0o777);
    const openKubelet = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_HELPER_DIR: open } });
    expect((await openKubelet.call('init')).reply?.status).toBe('Success');
    await waitForHelpers(open, 0);
    expect((await openKubelet.call('init')).reply?.status).toBe('Success');
    expect(await readFile(logFile, 'utf8')).toMatch(/open-helper is open to group or others \(mode 777\); it must be 0700/);
    await expect(stat(join(open, 'sharemount~bind.sock'))).rejects.toThrow(/ENOENT/);
  });

  it('the call deadline holds in the helper: work that never ends answers Failure on time, and the helper serves on', async () => {
    await startHelper();
    const { pid } = await serving();
    const hurried = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '1000' } });
    const started = Date.now();
    expectFailure(await hurried.call('waitforattach', '/dev/x', '{}'), /waitforattach did not finish within 1000 ms/);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await helperPids(helperDir)).toEqual([pid]);
    expect((await kubelet.call('init')).reply?.status).toBe('Success');
  });

  it('a helper that dies during a call (SIGKILL): the caller answers the call itself', async () => {
    await startHelper();
    const { pid } = await serving();
    const hurried = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '1000' } });
    const pending = hurried.call('waitforattach', '/dev/x', '{}'); // never finishes in the helper
    await sleep(300);
    process.kill(pid, 'SIGKILL');
    const run = await pending;
    expectFailure(run, /waitforattach did not finish within 1000 ms/); // the caller's own deadline, in its own process
    // ... and the caller started a new helper, since none was serving any more.
    const [next] = await waitForHelpers(helperDir, 1);
    expect(next).not.toBe(pid);
  });

  it('a helper that stopped responding (SIGSTOP): the caller answers the call itself after a short wait and removes the socket; the helper retires when it runs again', async () => {
    await startHelper();
    const { pid } = await serving();
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const op = await kubelet.mountVolume(pod(30), 'data', volume());
      expect(op.ok, op.error).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
      expect((await pidsThatLogged(logFile, 'mounted')).at(-1)).not.toBe(pid);
      await expect(stat(socket)).rejects.toThrow(/ENOENT/); // the next caller does not wait
      const quick = Date.now();
      expect((await kubelet.unmountVolume(pod(30).uid, 'data')).ok).toBe(true);
      expect(Date.now() - quick).toBeLessThan(2_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    await waitForHelpers(helperDir, 0, 3_000);
    expect(await helperPids(helperDir)).not.toContain(pid);
  });

  it('a caller of another build (an upgraded driver): declined, and the helper retires, removing its socket', async () => {
    await startHelper();
    const { pid } = await serving();
    expect(await talkToHelper(socket, request({ build: 'another-build' }))).toEqual(['{"declined":"stale"}']);
    await waitForHelpers(helperDir, 0);
    await expect(stat(socket)).rejects.toThrow(/ENOENT/);
    expect(await helperPids(helperDir)).not.toContain(pid);
    expect((await kubelet.call('init')).reply?.status).toBe('Success'); // answered by the caller, which starts the next helper
    await waitForHelpers(helperDir, 1);
  });

  it('a caller with another environment (kubelet restarted with new settings): the call is answered by the caller, and a helper with the new environment takes over', async () => {
    await startHelper();
    const { pid } = await serving();
    // SHAREMOUNT_* settings are read per call: a caller that differs only there is served.
    expect((await new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '5000' } }).call('init')).reply?.status).toBe('Success');
    expect(await helperPids(helperDir)).toEqual([pid]);
    const changed = new FakeKubelet({ ...kubelet.options, env: { ...env, LVM_SYSTEM_DIR: '/etc/lvm-other' } });
    expect((await changed.call('init')).reply?.status).toBe('Success');
    const [next] = await waitForHelpers(helperDir, 1);
    expect(next).not.toBe(pid);
    const environ = (await readFile(`/proc/${next}/environ`, 'utf8')).split('\0');
    expect(environ).toContain('LVM_SYSTEM_DIR=/etc/lvm-other');
    expect(await readFile(logFile, 'utf8')).toMatch(/"reason":"environment".*"msg":"declined a call"/);
  });

  it('a caller in another mount namespace is declined (its mounts would not be its own), and the helper retires for one in the caller\'s namespace', async () => {
    await startHelper();
    const { build, pid } = await serving();
    const lines = await talkToHelper(socket, request({ build }));
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual({ accepted: { timeoutMs: 60_000 } });
    expect(JSON.parse(JSON.parse(lines[1]!).reply)).toMatchObject({ status: 'Success', capabilities: { attach: false } });
    expect(await talkToHelper(socket, request({ build, mountNamespace: 'mnt:[1]' }))).toEqual(['{"declined":"namespace"}']);
    await waitForHelpers(helperDir, 0);
    expect(await helperPids(helperDir)).not.toContain(pid);
    await expect(stat(socket)).rejects.toThrow(/ENOENT/);
  });

  it('garbage on the socket: not JSON, unknown fields, a line over the limit; each declined as malformed, the helper serves on', async () => {
    await startHelper();
    const { build, pid } = await serving();
    expect(await talkToHelper(socket, 'not json\n')).toEqual(['{"declined":"malformed"}']);
    expect(await talkToHelper(socket, request({ build, extra: 1 }))).toEqual(['{"declined":"malformed"}']);
    expect(await talkToHelper(socket, request({ build, argv: 'init' }))).toEqual(['{"declined":"malformed"}']);
    expect(await talkToHelper(socket, Buffer.alloc(2 << 20, 'a'))).toEqual(['{"declined":"malformed"}']);
    expect(await helperPids(helperDir)).toEqual([pid]);
    expectOneReply(await kubelet.call('init'));
    expect(await readFile(logFile, 'utf8')).toMatch(/"reason":"malformed".*"msg":"declined a call"/);
  });

  it('retires when idle for SHAREMOUNT_HELPER_IDLE_MS, and when its socket is removed', async () => {
    const idle = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_HELPER_IDLE_MS: '1000' } });
    expectOneReply(await idle.call('init'));
    await waitForHelpers(helperDir, 1);
    await waitForSocket(socket);
    expect(await waitForHelpers(helperDir, 0, 4_000)).toEqual([]);
    await expect(stat(socket)).rejects.toThrow(/ENOENT/);

    await startHelper();
    await rm(socket);
    expect(await waitForHelpers(helperDir, 0, 3_000)).toEqual([]);
  });

  /** One call with no helper running, which starts one; resolves once it serves. */
  async function startHelper(): Promise<void> {
    expectOneReply(await kubelet.call('init'));
    await waitForHelpers(helperDir, 1);
    await waitForSocket(socket);
  }
});

