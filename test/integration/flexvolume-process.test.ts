import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { installDriver } from '../helpers/flexvolume-drivers.js';
import { FakeKubelet, mountOptionsJson, type PodInfo } from '../helpers/kubelet.js';
import { expectFailure, expectOneReply } from '../helpers/flexvolume-reply.js';
import { startBindfs, stopBindfs } from '../helpers/bindfs.js';
import { exited, stopProcesses } from '../helpers/processes.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { writeCrashWrappers } from '../helpers/crash-wrappers.js';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';

// One process per FlexVolume call (docs/flexvolume.md, "One process per call"): the bind test
// driver's single executable, called as kubelet calls it. No call leaves a process behind or
// writes anywhere but its log, its state root and the pod's directory; a call that hangs, is
// stopped or is killed holds up no call of another share, and calls side by side are each
// their own process.
const missing = [...(process.getuid?.() === 0 ? [] : ['root (real mounts)']), ...(['/usr/bin/strace', '/bin/strace'].some((path) => existsSync(path)) ? [] : ['strace'])];
const skip = skipWhenMissing(missing.length > 0 ? missing.join(', ') : undefined, 'the FlexVolume process tests');

describe.skipIf(skip)('FlexVolume: one process per call', () => {
  let sandbox: Sandbox;
  let kubelet: FakeKubelet;
  let executable: string;
  let logFile: string;
  let env: Record<string, string>;
  // Every call of this file carries it in its environment, and so does every process it starts.
  const marker = `SHAREMOUNT_TEST_CALL=${randomUUID()}`;
  const pod = (i: number): PodInfo => ({ name: `pod-${i}`, namespace: 'default', uid: `0000-${String(i).padStart(4, '0')}` });
  const volume = (subPath: string, path?: string) => ({ options: { path: path ?? sandbox.source, subPath, createIfNecessary: 'true' }, pvOrVolumeName: 'data' });

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-flexproc-');
    logFile = join(sandbox.dir, 'log', 'driver.log');
    executable = await installDriver('sharemount~bind', join(sandbox.dir, 'plugins'));
    env = { SHAREMOUNT_ROOT: sandbox.root, SHAREMOUNT_LOG: logFile, SHAREMOUNT_CONFIG: join(sandbox.dir, 'config.json'), [marker.split('=')[0]!]: marker.split('=')[1]! };
    await writeFile(env.SHAREMOUNT_CONFIG!, '{}');
    kubelet = new FakeKubelet({ executable, driverDir: 'sharemount~bind', kubeletRoot: join(sandbox.dir, 'kubelet'), env });
  }, 180_000);

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  /** The processes whose environment carries this file's marker: the calls and whatever they started. */
  async function callProcesses(): Promise<number[]> {
    const pids: number[] = [];
    for (const name of await readdir('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      const environ = await readFile(`/proc/${name}/environ`, 'utf8').catch(() => '');
      if (environ.split('\0').includes(marker)) pids.push(Number(name));
    }
    return pids;
  }

  /** A call started as kubelet starts one, whose process the test can signal; resolves with its output. */
  function startCall(args: string[], callEnv = env): { child: ChildProcess; done: Promise<{ output: string; code: number | null; signal: NodeJS.Signals | null }> } {
    const child = sandbox.track(spawn(executable, args, { env: callEnv, stdio: ['ignore', 'pipe', 'pipe'] }));
    let output = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const done = exited(child).then(({ code, signal }) => ({ output, code, signal }));
    return { child, done };
  }

  /** The pids that logged `msg`, in order. */
  async function pidsThatLogged(msg: string): Promise<number[]> {
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter((line) => line !== '');
    return lines.map((line) => JSON.parse(line) as { msg?: string; pid?: number }).filter((line) => line.msg === msg).map((line) => line.pid!);
  }

  it('leaves no process running after a call: init, mount, unmount, a call cut short by its deadline, one that throws', async () => {
    expect(await callProcesses()).toEqual([]);
    expect(expectOneReply(await kubelet.call('init')).status).toBe('Success');
    expect(await callProcesses()).toEqual([]);
    const op = await kubelet.mountVolume(pod(1), 'data', volume('one'));
    expect(op.ok, op.error).toBe(true);
    expect(await callProcesses()).toEqual([]);
    expect((await kubelet.unmountVolume(pod(1).uid, 'data')).ok).toBe(true);
    expect(await callProcesses()).toEqual([]);
    // The fixture's waitforattach keeps an interval running for ever: the deadline answers and the process goes.
    const hurried = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '1000' } });
    expectFailure(await hurried.call('waitforattach', '/dev/x', '{}'), /waitforattach did not finish within 1000 ms/);
    expect(await callProcesses()).toEqual([]);
    expectFailure(await kubelet.call('attach', '{}', 'node-1'), /thrown from a timer/);
    expect(await callProcesses()).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('a deadline passing while mount(8) of a read-only publication runs never kills it: the call answers Failure and exits, the command finishes its ro step holding the lock, and nothing needs repair', async () => {
    const crash = await writeCrashWrappers(sandbox.dir);
    const target = join(sandbox.dir, 'device-mount');
    const done = join(sandbox.dir, 'device-mount-done');
    // The fixture's mountdevice publishes read-only; the wrapper makes the bind, then waits for the call to exit before its ro step.
    const hurried = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '1500', ...crash.env(target, 'split', done, 'exit') } });
    expectFailure(await hurried.call('mountdevice', target, sandbox.source, '{}'), /mountdevice did not finish within 1500 ms/);

    // The orphaned mount(8) holds the share's lock: a reconcile waits for its ro step rather
    // than finding a writable publication to repair, or a reference whose mount is yet to come.
    const manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    const report = await manager.reconcile();
    expect(existsSync(done)).toBe(true);
    expect(report).toMatchObject({ droppedReferences: [], repairedReadOnly: [] });
    expect((await mountsUnder(target)).map((m) => m.mountOptions[0])).toEqual(['ro']);
    expect(await callProcesses()).toEqual([]);
    expect(await manager.unpublish(target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('writes nothing outside its log, its state root and the pod directory (no socket, no cache): every file-changing system call of a call and its children, traced', async () => {
    const podDir = kubelet.podVolumeDir(pod(2).uid, 'data');
    await mkdir(podDir, { recursive: true, mode: 0o750 });
    const cwd = join(sandbox.dir, 'cwd');
    await mkdir(cwd);
    await mkdir(join(sandbox.source, 'two')); // the source is the volume's: nothing is created there
    const traced = async (args: string[]) => {
      const trace = join(sandbox.dir, `trace-${args[0]}`);
      // -z: successful calls only; -y: a descriptor is shown with its path, so *at calls resolve.
      const run = await execa('strace', ['-f', '-qq', '-z', '-y', '-o', trace, '-e', 'trace=%file,fchmod,fchown,bind,mount,umount2,move_mount', '-e', 'signal=none', '--', executable, ...args], {
        env,
        cwd,
        reject: false,
      });
      expect(JSON.parse(run.stdout), run.stderr).toMatchObject({ status: 'Success' });
      return readFile(trace, 'utf8');
    };
    const lines = [
      ...(await traced(['init'])).split('\n'),
      ...(await traced(['mount', podDir, mountOptionsJson(pod(2), { options: { path: sandbox.source, subPath: 'two' }, pvOrVolumeName: 'data' })])).split('\n'),
      ...(await traced(['unmount', podDir])).split('\n'),
    ];
    const written = lines.flatMap((line) => changedPaths(line, cwd));
    expect(written.length).toBeGreaterThan(0); // the trace saw the mount's own writes
    const allowed = [sandbox.root, join(sandbox.dir, 'log'), podDir];
    // /dev/null: the standard streams of the commands the driver runs.
    const outside = written.filter((path) => path !== '/dev/null' && !allowed.some((dir) => path === dir || path.startsWith(`${dir}/`)));
    expect(outside).toEqual([]);
    expect(await readdir(cwd)).toEqual([]);
    expect(await callProcesses()).toEqual([]);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('calls side by side (a node starting its pods): each is its own process; one share, 20 publications, then none', async () => {
    const pods = Array.from({ length: 20 }, (_, i) => pod(40 + i));
    // Twenty calls queue for one share's lock: a deadline (and so a lock wait, a fifth of it) that a loaded machine's queue fits in.
    const patient = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '600000' } });
    const mounted = await Promise.all(pods.map((p) => patient.mountVolume(p, 'data', volume('parallel'))));
    expect(mounted.map((op) => op.error)).toEqual(Array(20).fill(undefined));
    const mountedBy = (await pidsThatLogged('mounted')).slice(-20);
    expect(new Set(mountedBy).size).toBe(20);
    expect(mountedBy).not.toContain(process.pid);
    expect((await mountsUnder(join(sandbox.dir, 'kubelet'))).length).toBe(20);
    expect((await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'))).toHaveLength(1);
    const gone = await Promise.all(pods.map((p) => patient.unmountVolume(p.uid, 'data')));
    expect(gone.map((op) => op.error)).toEqual(Array(20).fill(undefined));
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await callProcesses()).toEqual([]);
    }, 300_000);

  it('a hung share holds up only its own calls: calls of another share are answered meanwhile, and once it answers again its pods mount', async () => {
    await mkdir(join(sandbox.source, 'hung'), { recursive: true });
    const fuse = await startBindfs(sandbox, sandbox.source, join(sandbox.dir, 'fuse-source'));
    const slow = { ...env, SHAREMOUNT_TIMEOUT_MS: '600000' }; // the core's probes then wait a minute: longer than the healthy calls take
    const hungCalls: Array<ReturnType<typeof startCall>> = [];
    try {
      const first = await kubelet.mountVolume(pod(60), 'data', volume('hung', fuse.mountPoint));
      expect(first.ok, first.error).toBe(true);
      process.kill(fuse.pid, 'SIGSTOP');
      // Five pods of the hung share, more than libuv has threads in one process.
      for (let i = 61; i <= 65; i++) {
        const dir = kubelet.podVolumeDir(pod(i).uid, 'data');
        await mkdir(dir, { recursive: true, mode: 0o750 });
        hungCalls.push(startCall(['mount', dir, mountOptionsJson(pod(i), volume('hung', fuse.mountPoint))], slow));
      }
      let hungAnswered = 0;
      for (const call of hungCalls) void call.done.then(() => hungAnswered++);
      await sleep(500); // let them reach the hung share
      for (let i = 70; i < 75; i++) {
        expect((await kubelet.mountVolume(pod(i), 'data', volume('healthy'))).ok).toBe(true);
        expect((await kubelet.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
      }
      expect(hungAnswered).toBe(0); // all ten calls of the healthy share were answered first
    } finally {
      process.kill(fuse.pid, 'SIGCONT');
    }
    // Whatever the hung calls answered, kubelet retries; now every pod mounts, and all of it goes.
    await Promise.all(hungCalls.map((call) => call.done));
    for (let i = 61; i <= 65; i++) {
      const retry = await kubelet.mountVolume(pod(i), 'data', volume('hung', fuse.mountPoint));
      expect(retry.ok, retry.error).toBe(true);
    }
    for (let i = 60; i <= 65; i++) expect((await kubelet.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
    expect((await mountsUnder(sandbox.dir)).map((m) => m.mountPoint)).toEqual([fuse.mountPoint]);
    await stopBindfs(fuse);
    expect(await callProcesses()).toEqual([]);
    }, 300_000);

  it('a call stopped (SIGSTOP) wherever it is holds up no call of another share; killed (SIGKILL), its locks go with it and the retry succeeds', async () => {
    const dir = kubelet.podVolumeDir(pod(80).uid, 'data');
    await mkdir(dir, { recursive: true, mode: 0o750 });
    const stopped = startCall(['mount', dir, mountOptionsJson(pod(80), volume('stopped'))]);
    try {
      await sleep(50);
      process.kill(stopped.child.pid!, 'SIGSTOP');
      for (let i = 81; i < 84; i++) {
        expect((await kubelet.mountVolume(pod(i), 'data', volume('other'))).ok).toBe(true);
        expect((await kubelet.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
      }
      process.kill(stopped.child.pid!, 'SIGKILL');
      expect((await stopped.done).signal).toBe('SIGKILL');
    } finally {
      await stopProcesses([stopped.child]);
    }
    // kubelet sees no reply and retries the same pod: the retry finishes what the killed call left.
    const retry = await kubelet.mountVolume(pod(80), 'data', volume('stopped'));
    expect(retry.ok, retry.error).toBe(true);
    expect((await kubelet.unmountVolume(pod(80).uid, 'data')).ok).toBe(true);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await callProcesses()).toEqual([]);
  });
});

const writeFlags = /O_WRONLY|O_RDWR|O_CREAT|O_TRUNC/;
// A path argument as strace -y prints it: `dirfd<dir>, "path"` (AT_FDCWD<cwd> too), or "path" alone.
const pathArgument = /(?:(?:\d+|AT_FDCWD)<([^>]*)>, )?"((?:[^"\\]|\\.)*)"/g;

/**
 * The paths a traced system call changed (strace -f -z -y output), absolute. Opens for reading,
 * stats, chdir and the like change nothing; an abstract unix socket (`@name`) is no file.
 */
function changedPaths(line: string, cwd: string): string[] {
  const call = /^\d+\s+(\w+)\((.*)\) = (?:\d+<([^>]*)>)?/.exec(line);
  if (call === null) return [];
  const [, name, args, opened] = call as unknown as [string, string, string, string | undefined];
  if (name === 'bind') {
    const socket = /sun_path="((?:[^"\\]|\\.)*)"/.exec(args)?.[1];
    return socket === undefined ? [] : [resolve(cwd, socket)];
  }
  const paths = [...args.matchAll(pathArgument)].map((m) => resolve(m[1] ?? cwd, m[2]!));
  if (['open', 'openat', 'openat2', 'creat'].includes(name)) return name === 'creat' || writeFlags.test(args) ? [opened ?? paths[0]!] : [];
  if (['rename', 'renameat', 'renameat2', 'link', 'linkat'].includes(name)) return paths;
  if (['symlink', 'symlinkat'].includes(name)) return paths.slice(-1); // the link made, not what it points to
  if (name === 'mount') return paths.slice(1, 2); // the target
  if (name === 'move_mount') return paths.slice(-1);
  const changing = ['mkdir', 'mkdirat', 'rmdir', 'unlink', 'unlinkat', 'mknod', 'mknodat', 'truncate', 'chmod', 'fchmodat', 'fchmodat2', 'chown', 'lchown', 'fchownat', 'utimensat', 'setxattr', 'lsetxattr', 'removexattr', 'lremovexattr', 'umount2'];
  if (changing.includes(name)) return paths.slice(0, 1);
  if (['fchmod', 'fchown', 'fsetxattr', 'fremovexattr'].includes(name)) return [/^(\d+)<([^>]*)>/.exec(args)?.[2] ?? `fd ${args}`];
  return [];
}
