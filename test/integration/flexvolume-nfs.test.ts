import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { missingNfsPrerequisites, startNfsServer, type NfsServer } from '../helpers/nfs-server.js';
import { installMountNfsSeam, type MountNfsSeam } from '../helpers/mount-nfs-seam.js';
import { installDriver } from '../helpers/flexvolume-drivers.js';
import { FakeKubelet, goJsonMarshal, type PodInfo } from '../helpers/kubelet.js';
import { expectFailure, expectOneReply } from '../helpers/flexvolume-reply.js';

// examples/flexvolume-nfs built into its single executable and called as kubelet calls it,
// against a real nfs-ganesha on 127.0.0.1. The kernel NFS client is the one stand-in (the
// mount.nfs seam): the driver's own `mount -t nfs` reaches it.
const missing = missingNfsPrerequisites();
const suite = describe.skipIf(skipWhenMissing(missing.length > 0 ? missing.join(', ') : undefined, 'the FlexVolume NFS tests'));

suite('FlexVolume NFS example driver against nfs-ganesha', () => {
  let sandbox: Sandbox;
  let server: NfsServer;
  let seam: MountNfsSeam;
  let kubelet: FakeKubelet;
  let env: Record<string, string>;
  const pod = (i: number, extra: Partial<PodInfo> = {}): PodInfo => ({ name: `web-${i}`, namespace: 'team-a', uid: `1111-${String(i).padStart(4, '0')}`, ...extra });
  const share = () => `${server.host}:${server.exportPath}`;
  const mountTable = async () => (await mountsUnder(sandbox.dir)).map((m) => ({ at: m.mountPoint.slice(sandbox.dir.length), fsType: m.fsType, source: m.source }));
  const nfsCalls = async () => (await seam.calls()).length;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`FlexVolume NFS tests need: ${missing.join(', ')}`);
    sandbox = await createSandbox('sharemount-flexnfs-');
    server = await startNfsServer();
    seam = await installMountNfsSeam([server]);
    const executable = await installDriver('sharemount~nfs', join(sandbox.dir, 'plugins'));
    env = { SHAREMOUNT_ROOT: sandbox.root, SHAREMOUNT_LOG: join(sandbox.dir, 'log', 'nfs.log'), SHAREMOUNT_CONFIG: join(sandbox.dir, 'config.json') };
    await writeFile(env.SHAREMOUNT_CONFIG!, '{}');
    kubelet = new FakeKubelet({ executable, driverDir: 'sharemount~nfs', kubeletRoot: join(sandbox.dir, 'kubelet'), env });
  }, 180_000);

  afterAll(async () => {
    await sandbox?.cleanup();
    await seam?.uninstall();
    await server?.stop();
  });

  it('init: attach:false; every attach-flow call answers exactly {"status":"Not supported"}', async () => {
    expect(expectOneReply(await kubelet.call('init'))).toMatchObject({ status: 'Success', capabilities: { attach: false, fsGroup: false, selinuxRelabel: false } });
    const calls = [
      ['getvolumename', '{}'], ['attach', '{}', 'node-1'], ['waitforattach', '/dev/x', '{}'], ['isattached', '{}', 'node-1'], ['detach', 'pv', 'node-1'],
      ['mountdevice', '/a', '/dev/x', '{}'], ['unmountdevice', '/a'], ['expandvolume', '{}', '/a', '2', '1'], ['expandfs', '{}', '/dev/x', '/a', '2', '1'],
    ];
    for (const args of calls) {
      const run = await kubelet.call(...args);
      expectOneReply(run);
      expect(run.stdout, args[0]).toBe('{"status":"Not supported"}\n');
    }
  });

  it('50 pods on one export: one NFS mount (whatever the option order), 50 bind publications; the last pod unmounts it', async () => {
    const callsBefore = await nfsCalls();
    const pods = Array.from({ length: 50 }, (_, i) => pod(i));
    for (const [i, p] of pods.entries()) {
      // The same option set, written two ways: still one share.
      const mountOptions = i % 2 === 0 ? `port=${server.port},vers=4.1` : `vers=4.1,port=${server.port},port=${server.port}`;
      const op = await kubelet.mountVolume(p, 'data', { options: { share: share(), mountOptions, subPath: `claims/web-${i}`, createIfNecessary: 'true', createMode: '0770' }, pvOrVolumeName: 'data' });
      expectOneReply(op.run!);
      expect(op.ok, op.error).toBe(true);
    }
    expect(await nfsCalls()).toBe(callsBefore + 1);
    const table = await mountTable();
    const shares = table.filter((m) => m.at.startsWith('/root/'));
    expect(shares).toHaveLength(1);
    expect(shares[0]!.at).toMatch(/^\/root\/nfs\/host\/127\.0\.0\.1\/path\/%2Fexport\/opts\/.+\/mnt$/);
    expect(table.filter((m) => m.at.startsWith('/kubelet/'))).toHaveLength(50);

    // A pod's writes reach the server, inside its own sub-directory.
    await writeFile(join(kubelet.podVolumeDir(pods[3]!.uid, 'data'), 'index.html'), 'web-3');
    expect(await readFile(join(server.exportDir, 'claims', 'web-3', 'index.html'), 'utf8')).toBe('web-3');
    expect(await server.list('claims')).toHaveLength(50);

    for (const [i, p] of pods.entries()) {
      const op = await kubelet.unmountVolume(p.uid, 'data');
      expect(op.ok, op.error).toBe(true);
      expect((await mountTable()).filter((m) => m.at.startsWith('/root/'))).toHaveLength(i === 49 ? 0 : 1);
    }
    expect(await mountTable()).toEqual([]);
    expect(await nfsCalls()).toBe(callsBefore + 1);
    expect(await readFile(join(server.exportDir, 'claims', 'web-3', 'index.html'), 'utf8')).toBe('web-3');
  }, 600_000); // about 100 calls, each a whole process: generous for a loaded machine

  it('another option set is another share; both go when their last pod goes', async () => {
    await mkdir(join(server.exportDir, 'shared'), { recursive: true });
    const a = await kubelet.mountVolume(pod(60), 'data', { options: { share: share(), mountOptions: `port=${server.port},vers=4.1`, subPath: 'shared' }, pvOrVolumeName: 'data' });
    const b = await kubelet.mountVolume(pod(61), 'data', { options: { share: share(), mountOptions: `port=${server.port},vers=4.1,ro`, subPath: 'shared' }, pvOrVolumeName: 'data' });
    expect([a.ok, b.ok], `${a.error} ${b.error}`).toEqual([true, true]);
    expect((await mountTable()).filter((m) => m.at.startsWith('/root/'))).toHaveLength(2);
    await expect(writeFile(join(kubelet.podVolumeDir(pod(61).uid, 'data'), 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    expect((await kubelet.unmountVolume(pod(60).uid, 'data')).ok).toBe(true);
    expect((await kubelet.unmountVolume(pod(61).uid, 'data')).ok).toBe(true);
    expect(await mountTable()).toEqual([]);
  });

  it('as shipped, a pod asking for a symlink publication (nfs-flex-volume style) gets a Failure naming allowSymlink: no mount, no link', async () => {
    await mkdir(join(server.exportDir, 'linked'), { recursive: true });
    const callsBefore = await nfsCalls();
    const op = await kubelet.mountVolume(pod(70), 'data', { options: { share: share(), mountOptions: `port=${server.port},vers=4.1`, subPath: 'linked', strategy: 'symlink' }, pvOrVolumeName: 'data' });
    expectOneReply(op.run!);
    expect(op.ok).toBe(false);
    expect(op.error).toMatch(/^options\.strategy: symlink is not allowed by this driver: .*allowSymlink/);
    expect(await nfsCalls()).toBe(callsBefore); // the export was not even mounted
    expect(await mountTable()).toEqual([]);
    expect((await kubelet.unmountVolume(pod(70).uid, 'data')).ok).toBe(true);
  });

  describe('hostile and broken options: Failure naming the problem, no NFS mount attempted, nothing mounted', () => {
    const cases: Array<[string, (port: number) => Record<string, string>, RegExp]> = [
      ['no share', () => ({}), /share: is required/],
      ['a typo in an option name', (port) => ({ share: share(), mountOption: `port=${port}` }), /options\.mountOption: is not an NFS parameter/],
      ['a share without an export', () => ({ share: '127.0.0.1' }), /share: export path/],
      ['a server that looks like a flag', () => ({ share: '-oremount:/export' }), /share: server/],
      ['a relative export', () => ({ share: '127.0.0.1:export' }), /share: export path/],
      ['an export with ..', () => ({ share: '127.0.0.1:/export/../etc' }), /share: export path/],
      ['a subPath with ..', (port) => ({ share: share(), mountOptions: `port=${port}`, subPath: '../../etc' }), /subPath: must not contain "\.\."/],
      ['an absolute subPath', (port) => ({ share: share(), mountOptions: `port=${port}`, subPath: '/etc' }), /subPath: must be relative/],
      ['a mount option that rebinds', (port) => ({ share: share(), mountOptions: `port=${port},bind` }), /"bind" is reserved/],
      ['a mount option with a comma smuggled in a value', (port) => ({ share: share(), mountOptions: `port=${port},sec=sys\u0000,remount` }), /mountOptions/],
      ['createMode that is not octal', (port) => ({ share: share(), mountOptions: `port=${port}`, subPath: 'x', createIfNecessary: 'true', createMode: 'rwxrwxrwx' }), /createMode: must be an octal mode/],
      ['createIfNecessary that is not a boolean', (port) => ({ share: share(), mountOptions: `port=${port}`, createIfNecessary: 'yes' }), /createIfNecessary/],
    ];
    for (const [name, options, pattern] of cases) {
      it(name, async () => {
        const callsBefore = await nfsCalls();
        const dir = kubelet.podVolumeDir(pod(90).uid, 'data');
        await mkdir(dir, { recursive: true, mode: 0o750 });
        expectFailure(await kubelet.call('mount', dir, goJsonMarshal({ 'kubernetes.io/readwrite': 'rw', ...options(server.port) })), pattern);
        expect(await nfsCalls()).toBe(callsBefore);
        expect(await mountTable()).toEqual([]);
        expect(await readdir(dir)).toEqual([]);
        await rmdir(dir);
      });
    }
  });

  it('a frozen server: the call fails within its bound with a clear message, nothing stays mounted', async () => {
    const bounded = new FakeKubelet({ ...kubelet.options, env: { ...env, SHAREMOUNT_TIMEOUT_MS: '3000' } });
    server.pause();
    try {
      const op = await bounded.mountVolume(pod(95), 'data', { options: { share: share(), mountOptions: `port=${server.port},vers=4.1` }, pvOrVolumeName: 'data' });
      expect(op.ok).toBe(false);
      expectOneReply(op.run!);
      expect(op.error).toMatch(/timed out|did not (exit|finish) within/);
    } finally {
      server.resume();
    }
    expect(await mountTable()).toEqual([]);
  });
});
