import { existsSync } from 'node:fs';
import { mkdir, readFile, statfs, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { MountManager } from '../../src/mount-manager.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { lvcreateArgs, lvsArgs, vgsArgs } from '../../src/backends/lvm/commands.js';
import { lvNameProblem } from '../../src/backends/lvm/names.js';
import { parseLvReport, parseVgReport } from '../../src/backends/lvm/reports.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { createLvmEnv, missingLvmPrerequisite, type LvmTestEnv } from '../helpers/lvm-env.js';
import { createSandbox, mountsUnder, type Sandbox } from '../helpers/sandbox.js';
import { startBindfs, stopBindfs } from '../helpers/bindfs.js';
import { exited } from '../helpers/processes.js';

const MiB = 1024 ** 2;
const missing = missingLvmPrerequisite();
const skip = skipWhenMissing(missing, 'the LVM integration tests');

/** Online ext4 growth needs CAP_SYS_RESOURCE (bit 24), which some VMs and containers drop. */
async function hasCapSysResource(): Promise<boolean> {
  const status = await readFile('/proc/self/status', 'utf8');
  const effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
  return (effective & (1n << 24n)) !== 0n;
}

describe.skipIf(skip)('LVM backend on real lvm2 (activation off, loop devices standing in for LVs)', () => {
  let env: LvmTestEnv;
  let sandbox: Sandbox;
  let backend: ReturnType<typeof lvmBackend>;
  let manager: MountManager;
  const lvs = async () => parseLvReport(await env.lvm('lvs', lvsArgs(env.vg), { vg: env.vg }));
  const vgFree = async () => parseVgReport(await env.lvm('vgs', vgsArgs(env.vg), { vg: env.vg }))[0]!.vg_free;
  const params = (extra: Record<string, string> = {}) => ({ volumeGroup: env.vg, ...extra });
  const target = (name: string) => join(sandbox.pods, name);
  const shareMounts = async () => (await mountsUnder(sandbox.root)).filter((m) => m.mountPoint.endsWith('/mnt'));
  const sizeOf = async (path: string) => {
    const s = await statfs(path);
    return s.blocks * s.bsize;
  };

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-lvm-it-');
    env = await createLvmEnv({ vg: 'smit', sizeBytes: 3 * 1024 ** 3 });
    backend = lvmBackend(env.backendOptions());
    manager = new MountManager({ root: sandbox.root, backends: [backend] });
  });

  afterAll(async () => {
    await sandbox?.cleanup();
    await env?.cleanup();
  });

  describe('provisioning', () => {
    it('reports the VG free space as capacity', async () => {
      const before = await backend.capacity(params());
      expect(before.availableBytes).toBe(await vgFree());
      await backend.createVolume({ name: 'cap', parameters: params({ size: '100Mi' }) });
      expect((await backend.capacity(params())).availableBytes).toBe(before.availableBytes - 100 * MiB);
      await backend.deleteVolume('smit/cap');
      expect((await backend.capacity(params())).availableBytes).toBe(before.availableBytes);
    });

    it('creates an LV idempotently by name, with tags, rounded to whole extents', async () => {
      const first = await backend.createVolume({ name: 'vol-a', parameters: params({ size: '10Mi', tags: 'team=a' }) });
      expect(first).toEqual({ volumeId: 'smit/vol-a', capacityBytes: 12 * MiB, context: { volumeGroup: 'smit', logicalVolume: 'vol-a', fsType: 'ext4' } });
      expect(await backend.createVolume({ name: 'vol-a', parameters: params({ size: '10Mi', tags: 'team=a' }) })).toEqual(first);
      expect(await backend.createVolume({ name: 'vol-a', parameters: params(), capacityBytes: 12 * MiB })).toEqual(first);
      await expect(backend.createVolume({ name: 'vol-a', parameters: params({ size: '20Mi' }) })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', field: 'name' });
      // A size range the LV fits is the same volume; a limit below it is not.
      expect(await backend.createVolume({ name: 'vol-a', parameters: params(), capacityBytes: 4 * MiB })).toEqual(first);
      expect(await backend.createVolume({ name: 'vol-a', parameters: params(), capacityLimitBytes: 12 * MiB })).toEqual(first);
      await expect(backend.createVolume({ name: 'vol-a', parameters: params(), capacityBytes: 4 * MiB, capacityLimitBytes: 8 * MiB })).rejects.toMatchObject({ code: 'ALREADY_EXISTS', message: expect.stringContaining('more than the limit of 8388608') });
      const row = (await lvs()).find((r) => r.lv_name === 'vol-a');
      expect(row).toMatchObject({ lv_size: 12 * MiB, segtype: 'linear', lv_tags: ['sharemount', 'team=a'] });
    });

    it('gives any CSI name a valid LV within the id: reserved, option-like, Unicode and 128-character names get a prefix and a hash', async () => {
      for (const name of ['snapshot-x', '--yes', 'tëst vol_tdata', 'n'.repeat(128)]) {
        const made = await backend.createVolume({ name, parameters: params({ size: '4Mi' }) });
        expect(Buffer.byteLength(`lvm:${made.volumeId}`)).toBeLessThanOrEqual(128);
        const lv = made.volumeId.slice('smit/'.length);
        expect(lvNameProblem(lv)).toBeUndefined();
        expect(lv).toMatch(/-?[0-9a-f]{16}$/);
        // Idempotent by name: the same name finds the same LV.
        expect(await backend.createVolume({ name, parameters: params({ size: '4Mi' }) })).toEqual(made);
        expect((await lvs()).some((r) => r.lv_name === lv)).toBe(true);
        await backend.deleteVolume(made.volumeId);
      }
    });

    it('refuses bad names, unknown VGs and too large sizes with typed errors, creating nothing', async () => {
      const before = (await lvs()).map((r) => r.lv_name).sort();
      await expect(backend.createVolume({ name: 'x', parameters: { volumeGroup: 'smit', size: '4Mi', mkfsOptions: '-F' } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'parameters.mkfsOptions' });
      await expect(backend.createVolume({ name: 'x', parameters: params() })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'parameters.size' });
      await expect(backend.createVolume({ name: 'x', parameters: { volumeGroup: 'no-such-vg', size: '4Mi' } })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'volumeGroup' });
      await expect(backend.capacity({ volumeGroup: 'no-such-vg' })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'volumeGroup' });
      await expect(backend.createVolume({ name: 'huge', parameters: params({ size: '1Ti' }) })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
      await expect(backend.createVolume({ name: 'thin-x', parameters: params({ size: '4Mi', thin: 'pool0' }) })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'thin' });
      // 9 to 11 MiB holds no whole number of 4 MiB extents.
      await expect(backend.createVolume({ name: 'x', parameters: params(), capacityBytes: 9 * MiB, capacityLimitBytes: 11 * MiB })).rejects.toMatchObject({ code: 'OUT_OF_RANGE', field: 'capacityLimitBytes' });
      await expect(backend.createVolume({ name: 'x', parameters: params(), capacityLimitBytes: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'capacityLimitBytes' });
      expect((await lvs()).map((r) => r.lv_name).sort()).toEqual(before);
    });

    it('keeps a new LV within the limit asked: rounded down to whole extents when up would pass it', async () => {
      expect(await backend.createVolume({ name: 'lim-a', parameters: params(), capacityLimitBytes: 10 * MiB })).toMatchObject({ capacityBytes: 8 * MiB });
      expect(await backend.createVolume({ name: 'lim-b', parameters: params({ size: '20Mi' }), capacityLimitBytes: 14 * MiB })).toMatchObject({ capacityBytes: 12 * MiB });
      expect(await backend.createVolume({ name: 'lim-c', parameters: params(), capacityBytes: 5 * MiB, capacityLimitBytes: 10 * MiB })).toMatchObject({ capacityBytes: 8 * MiB });
      for (const lv of ['lim-a', 'lim-b', 'lim-c']) await backend.deleteVolume(`smit/${lv}`);
    });

    it('builds a thin lvcreate that lvm2 parses (it looks the pool up; a thin pool itself needs device-mapper)', async () => {
      const args = lvcreateArgs({ vg: env.vg, lv: 'thin-1', sizeBytes: 64 * MiB, thinPool: 'pool0', tags: ['sharemount'] });
      await expect(env.lvm('lvcreate', args, { vg: env.vg, lv: 'thin-1', thin: 'pool0' })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'thin' });
    });

    it('snapshots: lvm2 takes our lvcreate --snapshot and finds the origin (the copy-on-write device itself needs device-mapper); unknown sources NOT_FOUND; nothing left behind', async () => {
      const made = await backend.createVolume({ name: 'snap-origin', parameters: params({ size: '8Mi' }) });
      const before = (await lvs()).map((r) => r.lv_name).sort();
      const error = await backend.createSnapshot({ name: 'snapshot-1', sourceVolumeId: made.volumeId }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'COMMAND_FAILED', message: expect.stringContaining('device-mapper') });
      expect((await lvs()).map((r) => r.lv_name).sort()).toEqual(before);
      await expect(backend.createSnapshot({ name: 's', sourceVolumeId: 'smit/no-such' })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'source_volume_id' });
      await expect(backend.createSnapshot({ name: 's', sourceVolumeId: 'no-such-vg/x' })).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'source_volume_id' });
      await expect(backend.createSnapshot({ name: 's', sourceVolumeId: 'not an id' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await backend.deleteSnapshot('smit/never-made');
      await backend.deleteSnapshot('not an id');
      await backend.deleteSnapshot(made.volumeId); // a volume is no snapshot: left alone
      expect((await lvs()).map((r) => r.lv_name)).toContain('snap-origin');
      expect(await backend.listSnapshots({})).toEqual([]);
      await backend.deleteVolume(made.volumeId);
    });

    it('a volume from a linear LV (or its snapshot) is INVALID_ARGUMENT: it would need a block copy; unknown sources NOT_FOUND', async () => {
      const made = await backend.createVolume({ name: 'clone-origin', parameters: params({ size: '8Mi' }) });
      await expect(backend.createVolume({ name: 'clone-x', parameters: params(), capacityBytes: 8 * MiB, contentSource: { volumeId: made.volumeId } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('block copy') });
      await expect(backend.createVolume({ name: 'clone-x', parameters: params(), capacityBytes: 8 * MiB, contentSource: { snapshotId: 'smit/no-such' } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // A volume is not a snapshot, nor the other way round.
      await expect(backend.createVolume({ name: 'clone-x', parameters: params(), capacityBytes: 8 * MiB, contentSource: { snapshotId: made.volumeId } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await lvs()).map((r) => r.lv_name)).not.toContain('clone-x');
      await backend.deleteVolume(made.volumeId);
    });

    it('listVolumes lists the LVs with the owner tag (not the others), with their size and context', async () => {
      const a = await backend.createVolume({ name: 'listed-a', parameters: params({ size: '4Mi' }) });
      await env.lvm('lvcreate', ['--name', 'not-ours', '--size', '4m', '--yes', '--', env.vg]);
      const listed = await backend.listVolumes();
      expect(listed).toContainEqual({ volumeId: a.volumeId, capacityBytes: 4 * MiB, context: { volumeGroup: 'smit', logicalVolume: 'listed-a' } });
      expect(listed.map((v) => v.volumeId)).not.toContain('smit/not-ours');
      await env.lvm('lvremove', ['--yes', '--', `${env.vg}/not-ours`]);
      await backend.deleteVolume(a.volumeId);
    });

    it("agrees with lvm2's own name rules", async () => {
      const names = ['ok-1', 'a.b+c_d', 'snapshot2', 'pvmove9', 'x_mlog', 'y_tmeta', 'z_rimage', 'w_cvol', 'v_imeta', '.', 'lv x', 'é'];
      for (const name of names) {
        const ours = lvNameProblem(name) === undefined;
        const theirs = await env
          .lvm('lvcreate', ['--name', name, '--size', '4m', '--yes', '--', env.vg])
          .then(() => true)
          .catch(() => false);
        expect({ name, accepted: theirs }).toEqual({ name, accepted: ours });
        if (theirs) await env.lvm('lvremove', ['--yes', '--', `${env.vg}/${name}`]);
      }
    });

    it('extends an LV (never shrinks) and removes it; a second remove is success', async () => {
      await backend.createVolume({ name: 'vol-b', parameters: params({ size: '8Mi' }) });
      expect(await backend.expandVolume('smit/vol-b', 30 * MiB)).toEqual({ capacityBytes: 32 * MiB });
      expect(await backend.expandVolume('smit/vol-b', 4 * MiB)).toEqual({ capacityBytes: 32 * MiB });
      expect((await lvs()).find((r) => r.lv_name === 'vol-b')?.lv_size).toBe(32 * MiB);
      await expect(backend.expandVolume('smit/nope', 40 * MiB)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await backend.describeVolume('smit/vol-b')).toMatchObject({ context: { volumeGroup: 'smit', logicalVolume: 'vol-b' } });
      await backend.deleteVolume('smit/vol-b');
      for (const id of ['smit/vol-b', 'no-such-vg/vol-b', 'not an id']) expect(await backend.describeVolume(id)).toBeUndefined();
      expect((await lvs()).some((r) => r.lv_name === 'vol-b')).toBe(false);
      await expect(backend.deleteVolume('smit/vol-b')).resolves.toBeUndefined();
      await expect(backend.deleteVolume('no-such-vg/vol-b')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('never removes an LV it did not create', async () => {
      await env.lvm('lvcreate', ['--name', 'foreign', '--size', '4m', '--yes', '--', env.vg]);
      await expect(backend.deleteVolume('smit/foreign')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      expect((await lvs()).some((r) => r.lv_name === 'foreign')).toBe(true);
    });

    it('keeps lvm2 metadata backups in its own directory, not /etc/lvm', async () => {
      await expect(readFile(join(env.dir, 'backup', env.vg), 'utf8')).resolves.toContain('vol-a');
      await expect(readFile(join('/etc/lvm/backup', env.vg), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });

  describe('mounting through the MountManager', () => {
    it('formats a blank LV once and serves many publications from one share mount', async () => {
      const { context } = await backend.createVolume({ name: 'shared', parameters: params({ size: '64Mi' }) });
      const { source } = backend.toVolume(backend.parameters.parse(context));
      for (const name of ['p1', 'p2', 'p3']) await manager.publish({ source, subPath: `claims/${name}`, createIfNecessary: true, target: target(name) });
      const shares = await shareMounts();
      expect(shares).toHaveLength(1);
      expect(shares[0]).toMatchObject({ fsType: 'ext4', source: await env.standIn(env.vg, 'shared') });
      await writeFile(join(target('p1'), 'data.txt'), 'kept');
      expect(await readFile(join(shares[0]!.mountPoint, 'claims/p1/data.txt'), 'utf8')).toBe('kept');
    });

    it('formats a blank LV once when two shares of it (other options) race to mount it', async () => {
      await backend.createVolume({ name: 'raced', parameters: params({ size: '16Mi' }) });
      const lines: string[] = [];
      const record = (fields: Record<string, unknown>, message: string) => void lines.push(message);
      const logger = { debug: () => {}, info: record, warn: record, error: record };
      // Both shares get the device at the same moment (a barrier), so that both would look at a
      // blank device before either formats it, but for the lock.
      let arrived = 0;
      let releaseBoth: () => void = () => {};
      const bothThere = new Promise<void>((resolve) => (releaseBoth = resolve));
      const devicePath = async (vg: string, lv: string) => {
        const device = await env.standIn(vg, lv);
        if (++arrived === 2) releaseBoth();
        await Promise.race([bothThere, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        return device;
      };
      const racingBackend = lvmBackend({ ...env.backendOptions(), devicePath });
      const racing = new MountManager({ root: join(sandbox.dir, 'root-raced'), backends: [racingBackend], logger });
      const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'raced' }));
      const [a, b] = await Promise.all([
        racing.publish({ source, target: target('raced-a') }),
        racing.publish({ source, options: ['noatime'], target: target('raced-b') }),
      ]);
      expect(a.shareKey).not.toBe(b.shareKey);
      expect(lines.filter((line) => line === 'formatted a blank logical volume')).toHaveLength(1);
      await writeFile(join(target('raced-a'), 'one.txt'), 'seen by both');
      expect(await readFile(join(target('raced-b'), 'one.txt'), 'utf8')).toBe('seen by both');
      for (const name of ['raced-a', 'raced-b']) await racing.unpublish(target(name));
      await backend.deleteVolume('smit/raced');
    });

    it('by default an LV without the owner tag is refused, naming the opt-in, also when its share is mounted already; tagged, it mounts', async () => {
      await env.lvm('lvcreate', ['--yes', '--size', '8m', '--name', 'untagged', env.vg], { vg: env.vg });
      const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'untagged' }));
      const sharesBefore = (await shareMounts()).length; // the earlier tests' share of `shared` is mounted
      await expect(manager.publish({ source, target: target('foreign-a') })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        field: 'logicalVolume',
        message: expect.stringMatching(/lvchange --addtag sharemount.*mountAnyLogicalVolume/),
      });
      expect(await shareMounts()).toHaveLength(sharesBefore);
      // A driver that opted in to any LV mounts it; the default still lets no new consumer join that share.
      const anyLv = new MountManager({ root: sandbox.root, backends: [lvmBackend({ ...env.backendOptions(), mountAnyLogicalVolume: true })] });
      const first = await anyLv.publish({ source, target: target('foreign-b') });
      await expect(manager.publish({ source, target: target('foreign-c') })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', field: 'logicalVolume' });
      await anyLv.unpublish(first.target);
      await env.lvm('lvchange', ['--addtag', 'sharemount', `${env.vg}/untagged`], { vg: env.vg });
      const tagged = await manager.publish({ source, target: target('foreign-d') });
      await manager.unpublish(tagged.target);
      expect(await shareMounts()).toHaveLength(sharesBefore);
      await backend.deleteVolume('smit/untagged');
    });

    it('refuses to remove an LV while it is mounted, through any publication', async () => {
      await expect(backend.deleteVolume('smit/shared')).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', field: 'volumeId' });
      expect((await lvs()).some((r) => r.lv_name === 'shared')).toBe(true);
    });

    it('never reformats: data survives unmounting and mounting again', async () => {
      for (const name of ['p1', 'p2', 'p3']) await manager.unpublish(target(name));
      expect(await shareMounts()).toHaveLength(0);
      const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'shared' }));
      await manager.publish({ source, subPath: 'claims/p1', target: target('again') });
      expect(await readFile(join(target('again'), 'data.txt'), 'utf8')).toBe('kept');
      await manager.unpublish(target('again'));
    });

    it('refuses a mismatched fsType, mounting nothing', async () => {
      const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'shared', fsType: 'xfs' }));
      await expect(manager.publish({ source, target: target('wrong-fs') })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', field: 'fsType', message: expect.stringContaining('xfs') });
      expect(await shareMounts()).toHaveLength(0);
      const { stdout } = await execa('blkid', ['-p', '-o', 'value', '-s', 'TYPE', await env.standIn(env.vg, 'shared')]);
      expect(stdout.trim()).toBe('ext4');
      await manager.unpublish(target('wrong-fs'));
    });

    it('refuses to format a blank LV for a read-only mount', async () => {
      await backend.createVolume({ name: 'blank', parameters: params({ size: '16Mi' }) });
      const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'blank', mountOptions: 'ro' }));
      await expect(manager.publish({ source, options: ['ro'], target: target('blank-ro') })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
      await expect(execa('blkid', ['-p', await env.standIn(env.vg, 'blank')])).rejects.toMatchObject({ exitCode: 2 });
    });

    it('never formats a device blkid could not read (blkid exits 2 then too, as for a blank one)', async () => {
      // A real unreadable device: a loop device over a file on a FUSE mount whose daemon is
      // killed, so every read of it fails with EIO. mkfs is replaced on PATH by a recorder.
      const fuseSource = join(sandbox.dir, 'unreadable-src');
      await mkdir(fuseSource);
      await writeFile(join(fuseSource, 'disk.img'), '');
      await truncate(join(fuseSource, 'disk.img'), 16 * MiB);
      const fuse = await startBindfs(sandbox, fuseSource, join(sandbox.dir, 'unreadable-fuse'));
      const device = (await execa('losetup', ['--find', '--show', '--', join(fuse.mountPoint, 'disk.img')])).stdout.trim();
      const bin = join(sandbox.dir, 'mkfs-recorder');
      await mkdir(bin);
      const called = join(sandbox.dir, 'mkfs-called');
      for (const command of ['mkfs.ext4', 'mkfs.xfs']) {
        await writeFile(join(bin, command), `#!/bin/sh\necho "$@" >> ${called}\nexit 1\n`, { mode: 0o755 });
      }
      const path = process.env.PATH;
      process.env.PATH = `${bin}:${path ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
      try {
        process.kill(fuse.pid, 'SIGKILL');
        await exited(fuse.daemon);
        await expect(execa('blkid', ['-p', '--', device])).rejects.toMatchObject({ exitCode: 2 });
        // No such LV exists (the device stands in for it), so ownership is not what is tested here.
        const unreadable = new MountManager({ root: join(sandbox.dir, 'root-unreadable'), backends: [lvmBackend({ ...env.backendOptions(), mountAnyLogicalVolume: true, devicePath: async () => device })] });
        const { source } = backend.toVolume(backend.parameters.parse({ volumeGroup: env.vg, logicalVolume: 'unreadable' }));
        await expect(unreadable.publish({ source, target: target('unreadable') })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('could not be read') });
        expect(existsSync(called)).toBe(false);
        expect((await mountsUnder(join(sandbox.dir, 'root-unreadable'))).length).toBe(0);
      } finally {
        process.env.PATH = path;
        await execa('losetup', ['--detach', device], { reject: false });
        await stopBindfs(fuse);
      }
    });

    it('grows a mounted xfs filesystem online with xfs_growfs', async () => {
      const { context } = await backend.createVolume({ name: 'grow-xfs', parameters: params({ size: '320Mi', fsType: 'xfs', mkfsOptions: '-K' }) });
      const { source } = backend.toVolume(backend.parameters.parse(context));
      const publication = await manager.publish({ source, target: target('xfs') });
      expect((await shareMounts()).find((m) => m.mountPoint === publication.sharePath)?.fsType).toBe('xfs');
      const before = await sizeOf(target('xfs'));
      expect(await backend.expandVolume('smit/grow-xfs', 512 * MiB)).toEqual({ capacityBytes: 512 * MiB });
      const after = await sizeOf(target('xfs'));
      expect(after).toBeGreaterThan(before + 150 * MiB);
      await manager.unpublish(target('xfs'));
    });

    it('grows ext4: online with CAP_SYS_RESOURCE, otherwise a clear error and then offline', async () => {
      const { context } = await backend.createVolume({ name: 'grow-ext4', parameters: params({ size: '64Mi', mkfsOptions: '-m 0' }) });
      const { source } = backend.toVolume(backend.parameters.parse(context));
      await manager.publish({ source, target: target('ext4') });
      await writeFile(join(target('ext4'), 'before-growth'), 'x');
      const before = await sizeOf(target('ext4'));
      if (await hasCapSysResource()) {
        await backend.expandVolume('smit/grow-ext4', 128 * MiB);
        expect(await sizeOf(target('ext4'))).toBeGreaterThan(before + 50 * MiB);
        await manager.unpublish(target('ext4'));
        return;
      }
      // This machine drops CAP_SYS_RESOURCE: the kernel refuses online ext4 growth with EPERM.
      await expect(backend.expandVolume('smit/grow-ext4', 128 * MiB)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('CAP_SYS_RESOURCE') });
      expect((await lvs()).find((r) => r.lv_name === 'grow-ext4')?.lv_size).toBe(128 * MiB);
      await manager.unpublish(target('ext4'));
      expect(await backend.expandVolume('smit/grow-ext4', 128 * MiB)).toEqual({ capacityBytes: 128 * MiB });
      await manager.publish({ source, target: target('ext4') });
      expect(await sizeOf(target('ext4'))).toBeGreaterThan(before + 50 * MiB);
      expect(await readFile(join(target('ext4'), 'before-growth'), 'utf8')).toBe('x');
      await manager.unpublish(target('ext4'));
    });

    it('removes an LV once its last publication is gone', async () => {
      await backend.deleteVolume('smit/shared');
      expect((await lvs()).some((r) => r.lv_name === 'shared')).toBe(false);
      expect(await shareMounts()).toHaveLength(0);
      const ours = new Set(await Promise.all(['shared', 'grow-xfs', 'grow-ext4'].map((lv) => env.standIn(env.vg, lv).catch(() => ''))));
      expect((await readMountInfo()).filter((m) => ours.has(m.source))).toEqual([]);
    });
  });
});
