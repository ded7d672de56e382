import { describe, expect, it } from 'vitest';
import { createVolume, deleteVolume, type LvmProvisioner } from '../../src/backends/lvm/provisioning.js';
import { createLvmSnapshot, listLvmSnapshots, listLvmVolumes } from '../../src/backends/lvm/snapshots.js';
import { readLvs } from '../../src/backends/lvm/provisioning.js';

/*
 * The thin-pool and snapshot paths, which lvm2 here cannot run (no device-mapper): a fake lvm2
 * that answers reports from a table of LVs and records every other command, so that what the
 * backend decides (which command, which tags, what it refuses) is checked whole.
 */
type Lv = { lv_name: string; lv_size: number; lv_tags: string[]; pool_lv?: string; segtype?: string; origin?: string };

function fakeLvm(lvs: Lv[]) {
  const calls: string[][] = [];
  const row = (lv: Lv) => ({ lv_name: lv.lv_name, vg_name: 'vg0', lv_size: String(lv.lv_size), lv_tags: lv.lv_tags.join(','), pool_lv: lv.pool_lv ?? '', segtype: lv.segtype ?? 'linear', data_percent: '', lv_kernel_major: '-1', lv_kernel_minor: '-1', origin: lv.origin ?? '', lv_time: '2026-12-06 17:50:42 +0000' });
  const p: LvmProvisioner = {
    ownerTag: 'sharemount',
    timeouts: { commandMs: 1000, fsckMs: 1000 },
    devices: { devicePath: async () => '/dev/null', activeDevicePath: async () => undefined },
    lvm: async (subcommand, args) => {
      if (subcommand === 'vgs') return JSON.stringify({ report: [{ vg: [{ vg_name: 'vg0', vg_size: '1073741824', vg_free: '536870912', vg_extent_size: '4194304' }] }] });
      if (subcommand === 'lvs') return JSON.stringify({ report: [{ lv: lvs.map(row) }] });
      calls.push([subcommand, ...args]);
      if (subcommand === 'lvcreate') {
        const name = args[args.indexOf('--name') + 1]!;
        const origin = lvs.find((lv) => `vg0/${lv.lv_name}` === args[args.length - 1]);
        const tags = args.flatMap((a, i) => (args[i - 1] === '--addtag' ? [a] : []));
        lvs.push({ lv_name: name, lv_size: origin?.lv_size ?? 8 << 20, lv_tags: tags, pool_lv: origin?.pool_lv ?? '', segtype: 'thin', origin: origin?.lv_name ?? '' });
      }
      if (subcommand === 'lvextend') lvs.find((lv) => `vg0/${lv.lv_name}` === args[args.length - 1])!.lv_size = Number(args[1]!.slice(0, -1));
      return '';
    },
  };
  return { p, calls, lvs };
}

const MiB = 1 << 20;

describe('LVM snapshots and clones, decided against a fake lvm2', () => {
  it('a thin volume gets a thin snapshot (no --size), tagged with its source; idempotent; another source is ALREADY_EXISTS', async () => {
    const { p, calls } = fakeLvm([{ lv_name: 'pool0', lv_size: 512 * MiB, lv_tags: [], segtype: 'thin-pool' }, { lv_name: 'vol', lv_size: 64 * MiB, lv_tags: ['sharemount'], pool_lv: 'pool0', segtype: 'thin' }, { lv_name: 'other', lv_size: 64 * MiB, lv_tags: ['sharemount'], pool_lv: 'pool0', segtype: 'thin' }]);
    const lvs = (vg: string) => readLvs(p, vg);
    const snapshot = await createLvmSnapshot(p, { name: 'snapshot-abc', sourceVolumeId: 'vg0/vol' }, lvs);
    expect(calls).toEqual([['lvcreate', '--snapshot', '--name', expect.stringMatching(/^v-snapshot-abc-[0-9a-f]{16}$/), '--yes', '--addtag', 'sharemount', '--addtag', 'sharemount.snapshot', '--addtag', 'sharemount.source=vol', '--', 'vg0/vol']]);
    expect(snapshot).toMatchObject({ sourceVolumeId: 'vg0/vol', sizeBytes: 64 * MiB, readyToUse: true, creationTime: Date.parse('2026-12-06T17:50:42Z') });
    expect(await createLvmSnapshot(p, { name: 'snapshot-abc', sourceVolumeId: 'vg0/vol' }, lvs)).toEqual(snapshot);
    await expect(createLvmSnapshot(p, { name: 'snapshot-abc', sourceVolumeId: 'vg0/other' }, lvs)).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(calls).toHaveLength(1);
    expect(await listLvmSnapshots(p, { sourceVolumeId: 'vg0/vol' })).toEqual([snapshot]);
    expect((await listLvmVolumes(p)).map((v) => v.volumeId).sort()).toEqual(['vg0/other', 'vg0/vol']);

    // A volume from it: a writable, active thin snapshot of the snapshot, grown to the size asked.
    const clone = await createVolume(p, { name: 'restored', parameters: { volumeGroup: 'vg0', thin: 'pool0' }, capacityBytes: 128 * MiB, contentSource: { snapshotId: snapshot.snapshotId } });
    expect(calls.slice(1)).toEqual([
      ['lvcreate', '--snapshot', '--name', 'restored', '--setactivationskip', 'n', '--yes', '--addtag', 'sharemount', '--addtag', `sharemount.from-snapshot=${snapshot.snapshotId.slice(4)}`, '--', snapshot.snapshotId],
      ['lvextend', '--size', `${128 * MiB}b`, '--', 'vg0/restored'],
    ]);
    expect(clone).toMatchObject({ volumeId: 'vg0/restored', capacityBytes: 128 * MiB });
    expect((await listLvmVolumes(p)).find((v) => v.volumeId === 'vg0/restored')?.contentSource).toEqual({ snapshotId: snapshot.snapshotId });
    // The same name with another source, or none, is another volume.
    await expect(createVolume(p, { name: 'restored', parameters: { volumeGroup: 'vg0', thin: 'pool0' }, capacityBytes: 128 * MiB })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(createVolume(p, { name: 'restored', parameters: { volumeGroup: 'vg0', thin: 'pool0' }, capacityBytes: 128 * MiB, contentSource: { volumeId: 'vg0/vol' } })).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await createVolume(p, { name: 'restored', parameters: { volumeGroup: 'vg0', thin: 'pool0' }, capacityBytes: 128 * MiB, contentSource: { snapshotId: snapshot.snapshotId } })).toEqual(clone);
  });

  it('a linear volume gets a thick snapshot its size; the volume is not deleted while it has one; a thin origin is', async () => {
    const { p, calls } = fakeLvm([{ lv_name: 'lin', lv_size: 32 * MiB, lv_tags: ['sharemount'] }]);
    const snapshot = await createLvmSnapshot(p, { name: 'snap-lin', sourceVolumeId: 'vg0/lin' }, (vg) => readLvs(p, vg));
    expect(calls[0]).toEqual(['lvcreate', '--snapshot', '--name', 'snap-lin', '--size', `${32 * MiB}b`, '--yes', '--addtag', 'sharemount', '--addtag', 'sharemount.snapshot', '--addtag', 'sharemount.source=lin', '--', 'vg0/lin']);
    await expect(deleteVolume(p, 'vg0/lin', undefined)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('snap-lin') });
    await deleteVolume(p, snapshot.snapshotId, undefined); // a snapshot is no volume: untouched
    expect(calls).toHaveLength(1);

    const thin = fakeLvm([{ lv_name: 'pool0', lv_size: 512 * MiB, lv_tags: [], segtype: 'thin-pool' }, { lv_name: 'tv', lv_size: 8 * MiB, lv_tags: ['sharemount'], pool_lv: 'pool0', segtype: 'thin' }]);
    await createLvmSnapshot(thin.p, { name: 'snap-tv', sourceVolumeId: 'vg0/tv' }, (vg) => readLvs(thin.p, vg));
    await deleteVolume(thin.p, 'vg0/tv', undefined);
    expect(thin.calls.at(-1)).toEqual(['lvremove', '--yes', '--', 'vg0/tv']);
  });
});
