import { chown, lstat, mkdir, readFile, readdir, readlink, rmdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWhenMissing } from '../helpers/ci.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { installDriver } from '../helpers/flexvolume-drivers.js';
import { FakeKubelet, callDriver, goJsonMarshal, type PodInfo } from '../helpers/kubelet.js';
import { expectFailure, expectOneReply } from '../helpers/flexvolume-reply.js';
import { startBindfs, stopBindfs } from '../helpers/bindfs.js';
import { exited } from '../helpers/processes.js';

// The bind driver (test/fixtures/flexvolume-bind) built into a single executable, installed
// with the example's install script, and called with a minimal environment exactly as kubelet
// calls it. Everything is checked against the kernel's mount table.
const skip = skipWhenMissing(process.getuid?.() === 0 ? undefined : 'root (real mounts)', 'the FlexVolume bind tests');

describe.skipIf(skip)('FlexVolume bind driver, called as kubelet calls it', () => {
  let sandbox: Sandbox;
  let kubelet: FakeKubelet;
  let pluginDir: string;
  let logFile: string;
  let env: Record<string, string>;
  let executable: string;
  const pod = (i: number, extra: Partial<PodInfo> = {}): PodInfo => ({ name: `pod-${i}`, namespace: 'default', uid: `0000-${String(i).padStart(4, '0')}`, ...extra });
  const volume = (options: Record<string, string>, extra: { readOnly?: boolean; secret?: Record<string, string> } = {}) => ({
    options: { path: sandbox.source, ...options },
    pvOrVolumeName: 'data',
    ...extra,
  });
  /** Mounts under the sandbox, as mount points relative to it. */
  const mountTable = async () => (await mountsUnder(sandbox.dir)).map((m) => m.mountPoint.slice(sandbox.dir.length)).sort();
  const shareDirs = async () => (await readdir(join(sandbox.root, 'bind')).catch(() => [])).length;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-flexbind-');
    pluginDir = join(sandbox.dir, 'plugins');
    logFile = join(sandbox.dir, 'log', 'driver.log');
    executable = await installDriver('sharemount~bind', pluginDir);
    env = { SHAREMOUNT_ROOT: sandbox.root, SHAREMOUNT_LOG: logFile, SHAREMOUNT_CONFIG: join(sandbox.dir, 'no-config.json') };
    // SHAREMOUNT_CONFIG names a missing file on purpose: the machine's /etc must not matter.
    await writeFile(env.SHAREMOUNT_CONFIG!, '{}');
    kubelet = new FakeKubelet({ executable, driverDir: 'sharemount~bind', kubeletRoot: join(sandbox.dir, 'kubelet'), env });
  }, 180_000);

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  it('init declares attach:false and every capability, exit 0', async () => {
    const run = await kubelet.call('init');
    expect(expectOneReply(run)).toEqual({
      status: 'Success',
      capabilities: { attach: false, selinuxRelabel: false, supportsMetrics: false, fsGroup: false, requiresFSResize: false },
    });
  });

  it("ignores NODE_OPTIONS in kubelet's environment: no --require runs, no flag applies, the reply stays one document", async () => {
    const marker = join(sandbox.dir, 'node-options-ran');
    const script = join(sandbox.dir, 'node-options.cjs');
    await writeFile(script, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); console.log('injected');`);
    const run = await callDriver(executable, ['init'], { ...env, NODE_OPTIONS: `--require ${script} --trace-warnings` });
    expect(run.output).not.toContain('injected');
    expect(expectOneReply(run)).toMatchObject({ status: 'Success' });
    await expect(stat(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('answers exactly {"status":"Not supported"} for calls the driver does not implement', async () => {
    for (const args of [['expandvolume', '{}', '/a', '2', '1'], ['expandfs', '{}', '/dev/b', '/a', '2', '1']]) {
      const run = await kubelet.call(...args);
      expectOneReply(run);
      expect(run.stdout).toBe('{"status":"Not supported"}\n');
      expect(run.verdict.kind).toBe('not-supported');
    }
  });

  it('answers Failure with a usage message for no call, an unknown call or a wrong argument count', async () => {
    expectFailure(await kubelet.call(), /no call given; usage: bind init \| bind mount <podVolumeDir> <json>/);
    expectFailure(await kubelet.call('provision', '{}'), /unknown call "provision"; usage:/);
    expectFailure(await kubelet.call('mount', '/a'), /mount takes 2 arguments, got 1; usage: bind mount <podVolumeDir> <json>/);
    expectFailure(await kubelet.call('unmount'), /unmount takes 1 argument, got 0/);
    expectFailure(await kubelet.call('init', 'extra'), /init takes 0 arguments, got 1/);
  });

  it('50 pods on one source: one share, 50 bind publications in the mount table; the last unmount unmounts the share', async () => {
    const pods = Array.from({ length: 50 }, (_, i) => pod(i));
    for (const [i, p] of pods.entries()) {
      const op = await kubelet.mountVolume(p, 'data', volume({ subPath: `pod-${i}`, createIfNecessary: 'true', createMode: '0750' }));
      expectOneReply(op.run!);
      expect(op.ok, op.error).toBe(true);
    }
    const table = await mountTable();
    const shares = table.filter((m) => m.startsWith('/root/'));
    expect(shares).toHaveLength(1);
    expect(shares[0]).toMatch(/^\/root\/bind\/path\/.+\/opts\/%\/mnt$/);
    const podMounts = table.filter((m) => m.startsWith('/kubelet/pods/'));
    expect(podMounts).toEqual(pods.map((p) => `/kubelet/pods/${p.uid}/volumes/sharemount~bind/data`).sort());

    // Each pod sees its own sub-directory of the source, and writes land there.
    await writeFile(join(kubelet.podVolumeDir(pods[7]!.uid, 'data'), 'hello.txt'), 'from pod 7');
    expect(await readFile(join(sandbox.source, 'pod-7', 'hello.txt'), 'utf8')).toBe('from pod 7');
    expect((await stat(join(sandbox.source, 'pod-7'))).mode & 0o7777).toBe(0o750);

    // kubelet skips mount when the dir already is a mount point (same device: a bind of the same
    // filesystem is not seen as one, so the driver is called again and must be idempotent).
    const again = await kubelet.mountVolume(pods[0]!, 'data', volume({ subPath: 'pod-0', createIfNecessary: 'true', createMode: '0750' }));
    expect(again.ok).toBe(true);
    expect((await mountTable()).filter((m) => m.startsWith('/kubelet/'))).toHaveLength(50);

    for (const [i, p] of pods.entries()) {
      const op = await kubelet.unmountVolume(p.uid, 'data');
      expectOneReply(op.run!);
      expect(op.ok, op.error).toBe(true);
      const left = await mountTable();
      expect(left.filter((m) => m.startsWith('/kubelet/'))).toHaveLength(49 - i);
      expect(left.filter((m) => m.startsWith('/root/'))).toHaveLength(i === 49 ? 0 : 1);
    }
    expect(await mountTable()).toEqual([]);
    expect(await shareDirs()).toBe(0);
    expect(await readFile(join(sandbox.source, 'pod-7', 'hello.txt'), 'utf8')).toBe('from pod 7'); // data untouched
  }, 600_000); // 101 calls, each a whole process: generous for a loaded machine

  it('applies fsGroup as kubelet would: group, g+rw, setgid on directories, symlinks not followed', async () => {
    const dir = join(sandbox.source, 'fsgroup');
    await mkdir(join(dir, 'nested'), { recursive: true });
    await writeFile(join(dir, 'nested', 'file.txt'), 'x', { mode: 0o600 });
    await writeFile(join(sandbox.dir, 'outside.txt'), 'outside', { mode: 0o600 });
    await symlink(join(sandbox.dir, 'outside.txt'), join(dir, 'link-out'));
    const op = await kubelet.mountVolume(pod(100, { fsGroup: 4321 }), 'data', volume({ subPath: 'fsgroup' }));
    expect(op.ok, op.error).toBe(true);
    for (const [path, isDir] of [[dir, true], [join(dir, 'nested'), true], [join(dir, 'nested', 'file.txt'), false]] as const) {
      const s = await stat(path);
      expect(s.gid, path).toBe(4321);
      expect(s.mode & 0o660, path).toBe(0o660);
      if (isDir) expect(s.mode & 0o2000, path).toBe(0o2000);
    }
    expect((await lstat(join(dir, 'link-out'))).gid).toBe(4321); // the link itself
    const outside = await stat(join(sandbox.dir, 'outside.txt'));
    expect(outside.gid).toBe(0); // never what it points to
    expect(outside.mode & 0o777).toBe(0o600);
    expect((await kubelet.unmountVolume(pod(100).uid, 'data')).ok).toBe(true);
  });

  it('an fsGroup walk that cannot finish before the deadline is undone before the reply: nothing left on the pod dir', async () => {
    const dir = join(sandbox.source, 'many-files');
    // 24,000 entries: more than a walk does in the 3.75 s the deadline leaves it (about 3,000 a
    // second here), and a deadline long enough for a loaded machine to start the call and reach the walk.
    for (let d = 0; d < 60; d++) {
      await mkdir(join(dir, `d${d}`), { recursive: true });
      await Promise.all(Array.from({ length: 400 }, (_, f) => writeFile(join(dir, `d${d}`, `f${f}`), '')));
    }
    const hurried = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '5000' } });
    const op = await hurried.mountVolume(pod(102, { fsGroup: 4322 }), 'data', volume({ subPath: 'many-files' }));
    expect(op.ok).toBe(false);
    expect(op.error).toMatch(/fsGroup .* took longer than/);
    expect((await stat(dir)).gid).toBe(0); // the root is changed last, so the retry's OnRootMismatch check walks again
    expect((await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint.includes(pod(102).uid))).toEqual([]);
    expect((await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'))).toEqual([]); // the share released
  });

  it('fsGroup on a tree that refuses it (a read-only filesystem, like a root-squashed export): mounted anyway, as kubelet does, and logged', async () => {
    const source = join(sandbox.dir, 'ro-source');
    await mkdir(join(source, 'inner'), { recursive: true });
    await writeFile(join(source, 'inner', 'file.txt'), 'x');
    await execa('mount', ['--bind', source, source]);
    await execa('mount', ['-o', 'remount,bind,ro', source]);
    try {
      const op = await kubelet.mountVolume(pod(105, { fsGroup: 4323 }), 'data', volume({ path: source, subPath: 'inner' }));
      expect(op.ok, op.error).toBe(true);
      expect(await readFile(join(kubelet.podVolumeDir(pod(105).uid, 'data'), 'file.txt'), 'utf8')).toBe('x');
      expect((await stat(join(source, 'inner'))).gid).toBe(0);
      const warning = (await readFile(logFile, 'utf8')).split('\n').find((line) => line.includes('some entries could not be changed'));
      expect(JSON.parse(warning ?? '{}')).toMatchObject({ gid: 4323, entries: 2, failed: 2, firstFailure: 'EROFS' });
      expect((await kubelet.unmountVolume(pod(105).uid, 'data')).ok).toBe(true);
    } finally {
      await execa('umount', [source]);
    }
    expect(await mountTable()).toEqual([]);
  });

  it('SHAREMOUNT_FSGROUP_CHANGE_POLICY=OnRootMismatch: a volume whose root has the group already is not walked; one whose root lacks it is', async () => {
    const dir = join(sandbox.source, 'root-mismatch');
    await mkdir(join(dir, 'sub'), { recursive: true });
    const lenient = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_FSGROUP_CHANGE_POLICY: 'OnRootMismatch' } });
    const mountAndUnmount = async (i: number) => {
      const op = await lenient.mountVolume(pod(i, { fsGroup: 4324 }), 'data', volume({ subPath: 'root-mismatch' }));
      expect(op.ok, op.error).toBe(true);
      expect((await lenient.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
    };
    await mountAndUnmount(106);
    expect((await stat(join(dir, 'sub'))).gid).toBe(4324);
    await chown(join(dir, 'sub'), 0, 0);
    await mountAndUnmount(107); // the root matches: nothing walked
    expect((await stat(join(dir, 'sub'))).gid).toBe(0);
    await chown(dir, 0, 0);
    await mountAndUnmount(108); // the root does not: the whole tree again
    expect((await stat(join(dir, 'sub'))).gid).toBe(4324);
    expect(await mountTable()).toEqual([]);
  });

  it('a source whose FUSE daemon was killed (ENOTCONN): kubelet still calls unmount, which releases the pod dir and the share', async () => {
    const fuse = await startBindfs(sandbox, sandbox.source, join(sandbox.dir, 'fuse-source'));
    try {
      await mkdir(join(fuse.mountPoint, 'fuse-vol'), { recursive: true });
      const op = await kubelet.mountVolume(pod(109), 'data', volume({ path: fuse.mountPoint, subPath: 'fuse-vol' }));
      expect(op.ok, op.error).toBe(true);
      fuse.daemon.kill('SIGKILL');
      await exited(fuse.daemon);
      // FUSE answers from its attribute cache (1 s by default) until it expires, its daemon gone or not.
      await expect.poll(() => stat(kubelet.podVolumeDir(pod(109).uid, 'data')).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code), { timeout: 10_000 }).toBe('ENOTCONN');
      const teardown = await kubelet.unmountVolume(pod(109).uid, 'data');
      expect(teardown.ok, teardown.error).toBe(true);
      expect(teardown.run?.verdict.kind).toBe('success');
      expect((await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint !== fuse.mountPoint)).toEqual([]);
    } finally {
      await stopBindfs(fuse);
    }
  });

  it("a share whose FUSE daemon was killed and started again is healed by another pod's mount call: every pod's directory shows the live source again", async () => {
    const backing = join(sandbox.dir, 'heal-backing');
    for (const name of ['a', 'b']) await mkdir(join(backing, name), { recursive: true });
    let fuse = await startBindfs(sandbox, backing, join(sandbox.dir, 'heal-source'));
    const pods = [120, 121, 122, 123].map((i) => pod(i));
    try {
      for (const [i, p] of pods.entries()) {
        const op = await kubelet.mountVolume(p, 'data', volume({ path: fuse.mountPoint, subPath: i % 2 === 0 ? 'a' : 'b' }));
        expect(op.ok, op.error).toBe(true);
      }
      fuse.daemon.kill('SIGKILL');
      await exited(fuse.daemon);
      await execa('umount', ['--lazy', '--no-canonicalize', '--', fuse.mountPoint]);
      fuse = await startBindfs(sandbox, backing, fuse.mountPoint);
      // FUSE answers from its attribute cache (1 s by default) until it expires, its daemon gone or not.
      await expect.poll(() => stat(kubelet.podVolumeDir(pods[0]!.uid, 'data')).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code), { timeout: 10_000 }).toBe('ENOTCONN');

      const other = await kubelet.mountVolume(pod(124), 'data', volume({ path: fuse.mountPoint, subPath: 'a' }));
      expect(other.ok, other.error).toBe(true);
      for (const name of ['a', 'b']) await writeFile(join(backing, name, 'after-heal.txt'), `${name}\n`);
      for (const [i, p] of [...pods, pod(124)].entries()) {
        expect(await readFile(join(kubelet.podVolumeDir(p.uid, 'data'), 'after-heal.txt'), 'utf8')).toBe(i % 2 === 0 ? 'a\n' : 'b\n');
      }
      for (const p of [...pods, pod(124)]) {
        const teardown = await kubelet.unmountVolume(p.uid, 'data');
        expect(teardown.ok, teardown.error).toBe(true);
      }
      expect((await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint !== fuse.mountPoint && !m.mountPoint.startsWith(join(sandbox.dir, 'fuse-source')))).toEqual([]);
    } finally {
      await stopBindfs(fuse);
    }
  });

  it("read-only when the volume's own readOnly parameter says so; a misspelt parameter is refused by name", async () => {
    await mkdir(join(sandbox.source, 'ro-param'), { recursive: true });
    const op = await kubelet.mountVolume(pod(103), 'data', volume({ subPath: 'ro-param', readOnly: 'true' }));
    expect(op.ok, op.error).toBe(true);
    await expect(writeFile(join(kubelet.podVolumeDir(pod(103).uid, 'data'), 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect((await kubelet.unmountVolume(pod(103).uid, 'data')).ok).toBe(true);
    const typo = await kubelet.mountVolume(pod(104), 'data', volume({ subpath: 'ro-param' }));
    expect(typo.ok).toBe(false);
    expect(typo.error).toMatch(/subpath/);
    expect(await mountTable()).toEqual([]);
  });

  it('read-only: the publication refuses writes, and fsGroup is not applied (as kubelet)', async () => {
    await mkdir(join(sandbox.source, 'ro'), { recursive: true });
    const op = await kubelet.mountVolume(pod(101, { fsGroup: 999 }), 'data', volume({ subPath: 'ro' }, { readOnly: true }));
    expect(op.ok, op.error).toBe(true);
    await expect(writeFile(join(kubelet.podVolumeDir(pod(101).uid, 'data'), 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect((await stat(join(sandbox.source, 'ro'))).gid).toBe(0);
    expect((await kubelet.unmountVolume(pod(101).uid, 'data')).ok).toBe(true);
    expect(await mountTable()).toEqual([]);
  });

  it('symlink strategy when the volume asks: the pod dir becomes a link into the share; unmount still releases the share', async () => {
    await mkdir(join(sandbox.source, 'linked'), { recursive: true });
    const op = await kubelet.mountVolume(pod(102), 'data', volume({ subPath: 'linked', strategy: 'symlink' }));
    expect(op.ok, op.error).toBe(true);
    const dir = kubelet.podVolumeDir(pod(102).uid, 'data');
    expect((await lstat(dir)).isSymbolicLink()).toBe(true);
    expect(await readlink(dir)).toMatch(/\/mnt\/linked$/);
    expect((await mountTable()).filter((m) => m.startsWith('/kubelet/'))).toEqual([]);
    const down = await kubelet.unmountVolume(pod(102).uid, 'data');
    expect(down.ok, down.error).toBe(true);
    await expect(lstat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await mountTable()).toEqual([]);
  });

  it('unmount of a pod directory with a mount sharemount has no record of (a lost state root) unmounts it, as kubelet would', async () => {
    const dir = join(sandbox.dir, 'kubelet-pods', 'unrecorded', 'volumes', 'sharemount~bind', 'data');
    await mkdir(dir, { recursive: true });
    await mkdir(join(sandbox.source, 'unrecorded'), { recursive: true });
    await execa('mount', ['--bind', join(sandbox.source, 'unrecorded'), dir]);
    expect(expectOneReply(await kubelet.call('unmount', dir)).status).toBe('Success');
    expect((await mountsUnder(sandbox.dir)).filter((m) => m.mountPoint === dir)).toEqual([]);
    await rmdir(dir); // what kubelet does next, and could not with the mount left
  });

  it('unmount of a directory with nothing published succeeds (kubelet retries tear-down until it does)', async () => {
    const dir = join(sandbox.dir, 'kubelet', 'pods', 'never', 'volumes', 'sharemount~bind', 'data');
    await mkdir(dir, { recursive: true });
    expect(expectOneReply(await kubelet.call('unmount', dir)).status).toBe('Success');
  });

  describe('hostile and broken input: Failure with a useful message, nothing mounted, nothing left', () => {
    const secret = 'hunter2-the-secret';
    // Each case: the volume's options (from the source dir), or a raw JSON argument.
    type Options = (source: string) => Record<string, string>;
    const withSource = (extra: Record<string, string>): Options => (source) => ({ path: source, ...extra });
    const cases: Array<[string, Options | string, RegExp]> = [
      ['not JSON at all', 'not json', /options: is not valid JSON/],
      ['a JSON array', '[]', /options: must be a JSON object of string values/],
      ['an empty argument', '', /options: is not valid JSON/],
      ['a non-string value', '{"path":5}', /options\.path: must be a string/],
      ['no path option', () => ({}), /options\.path: /],
      ['a relative path', () => ({ path: 'relative/dir' }), /options\.path: must be an absolute path/],
      ['a path with ..', () => ({ path: '/tmp/../etc' }), /options\.path: must be a normalised path/],
      ['a NUL in the path', () => ({ path: '/tmp/a\u0000b' }), /options\.path: contains a NUL or control character/],
      ['a subPath with ..', withSource({ subPath: '../../etc' }), /subPath: must not contain "\.\."/],
      ['a subPath with .. inside', withSource({ subPath: 'a/../../b' }), /subPath: must not contain "\.\."/],
      ['an absolute subPath', withSource({ subPath: '/etc' }), /subPath: must be relative to the share/],
      ['a subPath through a symlink out of the share', withSource({ subPath: 'escape/passwd' }), /subPath: "escape" is a symlink/],
      ['a subPath that does not exist', withSource({ subPath: 'missing' }), /subPath: "missing" does not exist in the share/],
      ['mount option "bind"', withSource({ mountOptions: 'bind' }), /options\[0\]: "bind" is reserved/],
      ['mount option "remount"', withSource({ mountOptions: 'ro,remount' }), /"remount" is reserved/],
      ['an option that injects a flag', withSource({ mountOptions: '--make-shared' }), /starts with "-"/],
      ['an option with a space', withSource({ mountOptions: 'ro nosuid' }), /has a name outside/],
      ['an X-mount option', withSource({ mountOptions: 'X-mount.mkdir' }), /reserved/],
      ['an option the bind backend does not take', withSource({ mountOptions: 'vers=4.1' }), /is not a bind-mount option/],
      ['an unknown strategy', withSource({ strategy: 'hardlink' }), /options\.strategy: must be "bind" or "symlink"/],
      ['a bad createMode', withSource({ subPath: 'new', createIfNecessary: 'true', createMode: '999' }), /createMode: must be an octal mode/],
    ];
    for (const [name, options, pattern] of cases) {
      it(name, async () => {
        await symlink('/etc', join(sandbox.source, 'escape')).catch(() => {});
        const before = await mountTable();
        const json =
          typeof options === 'string'
            ? options
            : goJsonMarshal({ 'kubernetes.io/readwrite': 'rw', 'kubernetes.io/secret/password': Buffer.from(secret).toString('base64'), ...options(sandbox.source) });
        const dir = kubelet.podVolumeDir(pod(200).uid, 'data');
        await mkdir(dir, { recursive: true, mode: 0o750 });
        const message = expectFailure(await kubelet.call('mount', dir, json), pattern);
        expect(message).not.toContain(secret);
        expect(message).not.toContain(Buffer.from(secret).toString('base64'));
        expect(await mountTable()).toEqual(before);
        expect(await shareDirs()).toBe(0);
        expect(await readdir(dir)).toEqual([]); // untouched: kubelet removes it after a failure
        await rmdir(dir);
      });
    }

    it('bad kubelet keys: readwrite, fsGroup, a secret that is not base64', async () => {
      const dir = kubelet.podVolumeDir(pod(201).uid, 'data');
      await mkdir(dir, { recursive: true, mode: 0o750 });
      expectFailure(await kubelet.call('mount', dir, goJsonMarshal({ 'kubernetes.io/readwrite': 'maybe', path: sandbox.source })), /options\.kubernetes\.io\/readwrite: must be "ro" or "rw"/);
      expectFailure(await kubelet.call('mount', dir, goJsonMarshal({ 'kubernetes.io/mounterArgs.FsGroup': '-1', path: sandbox.source })), /FsGroup: must be a group id/);
      expectFailure(await kubelet.call('mount', dir, goJsonMarshal({ 'kubernetes.io/secret/key': 'not base64!', path: sandbox.source })), /options\.kubernetes\.io\/secret\/key: must be base64/);
      expectFailure(await kubelet.call('mount', 'relative/pod/dir', goJsonMarshal({ path: sandbox.source })), /target: must be an absolute path/);
      expect(await mountTable()).toEqual([]);
    });

    it('the log has the failures, never a secret', async () => {
      const log = await readFile(logFile, 'utf8');
      expect(log).toMatch(/"msg":"call failed"/);
      expect(log).not.toContain(secret);
      expect(log).not.toContain(Buffer.from(secret).toString('base64'));
    });
  });

  describe('whatever the driver code does, the output is one JSON document and stderr stays empty', () => {
    it('stray console output and a Node warning around a Success', async () => {
      const run = await kubelet.call('getvolumename', '{}');
      expect(expectOneReply(run)).toEqual({ status: 'Success', volumeName: 'ignored-by-kubelet' });
      expect(await readFile(logFile, 'utf8')).toMatch(/a stray line on stderr/);
    });
    it('an uncaught exception', async () => {
      expectFailure(await kubelet.call('attach', '{}', 'node-1'), /internal error: thrown from a timer/);
    });
    it('an unhandled rejection', async () => {
      expectFailure(await kubelet.call('detach', 'pv-1', 'node-1'), /internal error: rejected and never handled/);
    });
    it('work that never ends: the deadline answers', async () => {
      const run = await new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '1000' } }).call('waitforattach', '/dev/x', '{}');
      expectFailure(run, /waitforattach did not finish within 1000 ms/);
    });
    it('a dynamic import() of a built-in module works in the executable', async () => {
      expect(expectOneReply(await kubelet.call('unmountdevice', '/var/lib/kubelet/plugins/x'))).toEqual({ status: 'Success', message: 'loaded function' });
    });
    it('work dropped on the floor: the process still answers before it exits', async () => {
      expectFailure(await kubelet.call('isattached', '{}', 'node-1'), /exited without a reply/);
    });
  });

  describe('configuration', () => {
    it('refuses a log file or a state root inside the plugin directory, and writes nothing there', async () => {
      const inside = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_LOG: join(pluginDir, 'sharemount~bind', 'driver.log') } });
      expectFailure(await inside.call('unmount', join(sandbox.dir, 'x')), /SHAREMOUNT_LOG|log: .* is inside the plugin directory/);
      const rootInside = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_ROOT: join(pluginDir, 'state') } });
      expectFailure(await rootInside.call('unmount', join(sandbox.dir, 'x')), /root: .* is inside the plugin directory/);
      expect(await readdir(pluginDir)).toEqual(['sharemount~bind']);
      expect(await readdir(join(pluginDir, 'sharemount~bind'))).toEqual(['bind']);
    });

    it('refuses a log file or a state root reached through a symlink into the plugin directory', async () => {
      const link = join(sandbox.dir, 'plugins-link');
      await symlink(pluginDir, link);
      const viaLink = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_LOG: join(link, 'sub', 'driver.log') } });
      expectFailure(await viaLink.call('unmount', join(sandbox.dir, 'x')), /log: .* is inside the plugin directory/);
      const rootViaLink = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_ROOT: join(link, 'state') } });
      expectFailure(await rootViaLink.call('unmount', join(sandbox.dir, 'x')), /root: .* is inside the plugin directory/);
      expect(await readdir(pluginDir)).toEqual(['sharemount~bind']);
    });

    it('refuses a log file, a state root or a config file reached through a bind mount of the plugin directory (by identity)', async () => {
      const alias = join(sandbox.dir, 'plugins-alias');
      await mkdir(alias);
      await execa('mount', ['--bind', pluginDir, alias]);
      try {
        const logViaAlias = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_LOG: join(alias, 'sharemount~bind', 'driver.log') } });
        expectFailure(await logViaAlias.call('unmount', join(sandbox.dir, 'x')), /log: .* is inside the plugin directory/);
        const rootViaAlias = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_ROOT: join(alias, 'state') } });
        expectFailure(await rootViaAlias.call('unmount', join(sandbox.dir, 'x')), /root: .* is inside the plugin directory/);
        const configViaAlias = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_CONFIG: join(alias, 'sharemount~bind', 'bind') } });
        expectFailure(await configViaAlias.call('unmount', join(sandbox.dir, 'x')), /SHAREMOUNT_CONFIG: .* is inside the plugin directory/);
        expect(await readdir(pluginDir)).toEqual(['sharemount~bind']);
        expect(await readdir(join(pluginDir, 'sharemount~bind'))).toEqual(['bind']);
      } finally {
        await execa('umount', [alias]);
      }
    });

    it('never blocks on, or writes into, a log or config that is not a plain file: a FIFO, the reply streams, a path under /proc', async () => {
      const fifo = join(sandbox.dir, 'fifo');
      await execa('mkfifo', [fifo]);
      for (const log of [fifo, '/dev/stderr', '/dev/stdout', '/proc/self/fd/2', '/proc/nonexistent/dir/driver.log']) {
        const logged = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_LOG: log } });
        const started = Date.now();
        expect(expectOneReply(await logged.call('unmount', join(sandbox.dir, 'nothing-here'))).status, log).toBe('Success');
        expect(Date.now() - started, log).toBeLessThan(10_000);
      }
      const configured = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_CONFIG: fifo } });
      expectFailure(await configured.call('unmount', join(sandbox.dir, 'nothing-here')), /SHAREMOUNT_CONFIG: cannot read .*not a regular file/);
    });

    it('reads the config file named by SHAREMOUNT_CONFIG, and refuses a broken one', async () => {
      const file = join(sandbox.dir, 'config.json');
      await writeFile(file, JSON.stringify({ log: join(sandbox.dir, 'log', 'from-config.log') }));
      const { SHAREMOUNT_LOG: _unused, ...withoutLog } = env;
      const configured = new FakeKubelet({ ...kubelet.options, env: { ...withoutLog, SHAREMOUNT_CONFIG: file } });
      expectOneReply(await configured.call('unmount', join(sandbox.dir, 'nothing-here')));
      expect(await readFile(join(sandbox.dir, 'log', 'from-config.log'), 'utf8')).toMatch(/"call":"unmount"/);
      await writeFile(file, JSON.stringify({ logFile: '/tmp/x' }));
      expectFailure(await configured.call('unmount', join(sandbox.dir, 'nothing-here')), /Unrecognized key/);
    });
  });
});
