import { mkdir, readFile, readdir, rmdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { createLvmEnv, missingLvmPrerequisite, uniqueVgName, type LvmTestEnv } from '../helpers/lvm-env.js';
import { installDriver } from '../helpers/flexvolume-drivers.js';
import { FakeKubelet, goJsonMarshal, type PodInfo } from '../helpers/kubelet.js';
import { expectFailure, expectOneReply } from '../helpers/flexvolume-reply.js';

// examples/flexvolume-lvm built into its single executable and called as kubelet calls it, on
// real lvm2 (a loop-device PV, isolated by LVM_SYSTEM_DIR). The driver runs lvm2's production
// path: `lvchange --activate y`, then /dev/<vg>/<lv>. Without device-mapper, activation is
// switched off in the isolated config (lvmlocal.conf), and /dev/<vg> is a tmpfs, private to
// this mount namespace, whose links point at loop devices standing in for the active LVs.
const missing = missingLvmPrerequisite() ?? (process.getuid?.() === 0 ? undefined : 'root');
const suite = describe.skipIf(skipWhenMissing(missing, 'the FlexVolume LVM tests'));

// Unique per run: the test makes /dev/<vg>, which two runs on one machine would otherwise share.
const vg = uniqueVgName('smflexlvm');
const vgPattern = vg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

suite('FlexVolume LVM example driver on real lvm2', () => {
  let sandbox: Sandbox;
  let lvm: LvmTestEnv;
  let kubelet: FakeKubelet;
  let devDir: string | undefined;
  const pod = (i: number): PodInfo => ({ name: `db-${i}`, namespace: 'team-b', uid: `2222-${String(i).padStart(4, '0')}` });
  const volume = (options: Record<string, string>, fsType = 'ext4') => ({ options: { volumegroup: vg, ...options }, fsType, pvOrVolumeName: 'pv-data' });
  const mountTable = async () => (await mountsUnder(sandbox.dir)).map((m) => ({ at: m.mountPoint.slice(sandbox.dir.length), fsType: m.fsType, source: m.source }));
  const lvNames = async () => (await lvm.lvm('lvs', ['--reportformat', 'json', '-o', 'lv_name,lv_tags', vg])).trim();
  /** What activation would make: /dev/<vg>/<lv>, here a link to the LV's stand-in loop device. */
  const activate = async (lv: string) => symlink(await lvm.standIn(vg, lv), join(devDir!, lv)).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });

  beforeAll(async () => {
    if (missing !== undefined) throw new Error(`FlexVolume LVM tests need ${missing}`);
    sandbox = await createSandbox('sharemount-flexlvm-');
    lvm = await createLvmEnv({ vg, sizeBytes: 1024 ** 3 });
    const systemDir = lvm.lvmOptions.env!.LVM_SYSTEM_DIR!;
    await writeFile(join(systemDir, 'lvmlocal.conf'), 'global { activation = 0 }\n');
    devDir = `/dev/${vg}`;
    await mkdir(devDir);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'sharemount-test-dev', devDir]);
    const executable = await installDriver('sharemount~lvm', join(sandbox.dir, 'plugins'));
    const env = {
      SHAREMOUNT_ROOT: sandbox.root,
      SHAREMOUNT_LOG: join(sandbox.dir, 'log', 'lvm.log'),
      SHAREMOUNT_CONFIG: join(sandbox.dir, 'config.json'),
      LVM_SYSTEM_DIR: systemDir,
    };
    await writeFile(env.SHAREMOUNT_CONFIG, '{}');
    kubelet = new FakeKubelet({ executable, driverDir: 'sharemount~lvm', kubeletRoot: join(sandbox.dir, 'kubelet'), env });
  }, 240_000);

  afterAll(async () => {
    await sandbox?.cleanup();
    if (devDir !== undefined) {
      await execa('umount', ['--', devDir], { reject: false });
      await rmdir(devDir).catch(() => {});
    }
    await lvm?.cleanup();
  });

  it('init: attach:false (the shared-mount core mounts the LV once per node in `mount`)', async () => {
    expect(expectOneReply(await kubelet.call('init'))).toMatchObject({ status: 'Success', capabilities: { attach: false } });
    const run = await kubelet.call('mountdevice', '/a', '/dev/x', '{}');
    expect(run.stdout).toBe('{"status":"Not supported"}\n');
  });

  it('creates the LV when asked (size) and missing; formats the blank device once; one mount per node, a bind per pod', async () => {
    // First call: the LV is created, then activation shows no device yet (no device-mapper here).
    const first = await kubelet.mountVolume(pod(1), 'data', volume({ volumeID: 'data01', size: '64Mi' }));
    expect(first.ok).toBe(false);
    expectOneReply(first.run!);
    expect(first.error).toMatch(new RegExp(`/dev/${vgPattern}/data01 does not exist after activation`));
    expect(await lvNames()).toMatch(/"lv_name":"data01", "lv_tags":"sharemount"/);
    expect(await mountTable()).toEqual([]);

    await activate('data01');
    const device = await lvm.standIn(vg, 'data01');
    await expect(execa('blkid', ['-p', device])).rejects.toMatchObject({ exitCode: 2 }); // still blank
    for (const i of [1, 2, 3]) {
      const op = await kubelet.mountVolume(pod(i), 'data', volume({ volumeID: 'data01', size: '64Mi' }));
      expectOneReply(op.run!);
      expect(op.ok, op.error).toBe(true);
    }
    const table = await mountTable();
    const shares = table.filter((m) => m.at.startsWith('/root/'));
    expect(shares).toEqual([{ at: expect.stringMatching(new RegExp(`^/root/lvm/vg/${vgPattern}/lv/data01/fs/ext4/opts/%/mnt$`)), fsType: 'ext4', source: device }]);
    expect(table.filter((m) => m.at.startsWith('/kubelet/'))).toHaveLength(3);
    await writeFile(join(kubelet.podVolumeDir(pod(2).uid, 'data'), 'table.db'), 'rows');

    for (const i of [1, 2, 3]) expect((await kubelet.unmountVolume(pod(i).uid, 'data')).ok).toBe(true);
    expect(await mountTable()).toEqual([]);

    // Mounted again: the filesystem is kept, never formatted twice.
    expect((await kubelet.mountVolume(pod(4), 'data', volume({ volumeID: 'data01', size: '64Mi' }))).ok).toBe(true);
    expect(await readFile(join(kubelet.podVolumeDir(pod(4).uid, 'data'), 'table.db'), 'utf8')).toBe('rows');
    expect((await kubelet.unmountVolume(pod(4).uid, 'data')).ok).toBe(true);
    expect(await mountTable()).toEqual([]);
  });

  it('as shipped, a pod naming an LV the driver neither made nor was given (the node\'s root LV) gets a Failure naming the opt-in; nothing is mounted or formatted', async () => {
    await lvm.lvm('lvcreate', ['--yes', '--size', '16m', '--name', 'root', vg]);
    await activate('root');
    const device = await lvm.standIn(vg, 'root');
    for (const options of [{ volumeID: 'root' }, { volumeID: 'root', size: '16Mi' }] as Record<string, string>[]) {
      // With `size` too: an LV that exists is not created, so it gains no tag either.
      const op = await kubelet.mountVolume(pod(20), 'data', volume(options));
      expectOneReply(op.run!);
      expect(op.ok).toBe(false);
      expect(op.error).toMatch(new RegExp(`logicalVolume: ${vgPattern}/root does not carry the tag "sharemount".*lvchange --addtag sharemount.*mountAnyLogicalVolume`));
    }
    expect(await mountTable()).toEqual([]);
    await expect(execa('blkid', ['-p', device])).rejects.toMatchObject({ exitCode: 2 }); // never formatted
    expect(await lvNames()).toMatch(/"lv_name":"root", "lv_tags":""/);
    expect((await kubelet.unmountVolume(pod(20).uid, 'data')).ok).toBe(true);
  });

  it('as shipped, a pod asking for a symlink publication gets a Failure naming allowSymlink', async () => {
    const op = await kubelet.mountVolume(pod(21), 'data', volume({ volumeID: 'data01', strategy: 'symlink' }));
    expectOneReply(op.run!);
    expect(op.ok).toBe(false);
    expect(op.error).toMatch(/^options\.strategy: symlink is not allowed by this driver: .*allowSymlink/);
    expect(await mountTable()).toEqual([]);
    expect((await kubelet.unmountVolume(pod(21).uid, 'data')).ok).toBe(true);
  });

  it('an existing LV an administrator tagged, without size: used as it is; a filesystem other than the one asked for is refused', async () => {
    await lvm.lvm('lvcreate', ['--yes', '--size', '32m', '--addtag', 'sharemount', '--name', 'premade', vg]);
    await activate('premade');
    const op = await kubelet.mountVolume(pod(10), 'data', volume({ volumeID: 'premade' }));
    expect(op.ok, op.error).toBe(true);
    expect((await kubelet.unmountVolume(pod(10).uid, 'data')).ok).toBe(true);
    const xfs = await kubelet.mountVolume(pod(11), 'data', volume({ volumeID: 'premade' }, 'xfs'));
    expect(xfs.ok).toBe(false);
    expect(xfs.error).toMatch(/ext4/);
    expect(await mountTable()).toEqual([]);
  });

  describe('hostile and broken options: Failure naming the option, no LV created, nothing mounted', () => {
    const cases: Array<[string, Record<string, string>, string, RegExp]> = [
      ['no volumegroup', { volumegroup: '', volumeID: 'x1' }, 'ext4', /volumeGroup/],
      ['no volumeID', { size: '8Mi' }, 'ext4', /options\.volumeID: is required/],
      ['a volumeID with a slash', { volumeID: '../../etc', size: '8Mi' }, 'ext4', /logicalVolume/],
      ['a volumeID that looks like a flag', { volumeID: '--force', size: '8Mi' }, 'ext4', /logicalVolume/],
      ['a size that is not a quantity', { volumeID: 'x2', size: 'lots' }, 'ext4', /size/],
      ['the backend name of an option', { volumeID: 'x3', volumeGroup: vg }, 'ext4', /options\.volumeGroup: is not an option of this driver/],
      ['an unknown option', { volumeID: 'x4', colour: 'blue' }, 'ext4', /colour/],
      ['an option named like an Object member', { volumeID: 'x7', constructor: 'x' } as Record<string, string>, 'ext4', /^(?!.*native code).*options\.constructor/],
      ['a filesystem the driver does not make', { volumeID: 'x5', size: '8Mi' }, 'ntfs', /fsType/],
      ['a hostile mount option', { volumeID: 'x6', size: '8Mi', mountOptions: 'loop,offset=0' }, 'ext4', /reserved/],
    ];
    for (const [name, options, fsType, pattern] of cases) {
      it(name, async () => {
        const lvsBefore = await lvNames();
        const dir = kubelet.podVolumeDir(pod(90).uid, 'data');
        await mkdir(dir, { recursive: true, mode: 0o750 });
        const json = goJsonMarshal({ 'kubernetes.io/fsType': fsType, 'kubernetes.io/readwrite': 'rw', volumegroup: vg, ...options });
        expectFailure(await kubelet.call('mount', dir, json), pattern);
        expect(await lvNames()).toBe(lvsBefore);
        expect(await mountTable()).toEqual([]);
        expect(await readdir(dir)).toEqual([]);
        await rmdir(dir);
      });
    }
  });
});
