import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { MountManager } from '../../src/mount-manager.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { createLvmEnv } from '../../test/helpers/lvm-env.js';
import { ms, summarize, table, time, type BenchSection } from '../lib.js';

const runs = Number(process.env.SHAREMOUNT_BENCH_LVM_RUNS ?? 7);

/**
 * One LVM volume from nothing to a mounted share, by step: lvcreate (createVolume), the first
 * publication (blkid, mkfs, mount -t, bind), a second publication of the same LV (a bind mount
 * only), and teardown (unpublish, lvremove). lvm2 runs for real with activation off; the LV's
 * device is a loop device at its offset in the PV (no device-mapper here), so activation time is
 * not included. Fresh LV each run; medians over the runs.
 */
export async function run(): Promise<BenchSection> {
  const env = await createLvmEnv({ vg: 'smbench', sizeBytes: 8 * 1024 ** 3 });
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-bench-lvm-'));
  const steps = { create: [] as number[], ext4: [] as number[], xfs: [] as number[], second: [] as number[], teardown: [] as number[] };
  try {
    const backend = lvmBackend(env.backendOptions());
    const manager = new MountManager({ root: join(dir, 'root'), backends: [backend] });
    for (let i = 0; i < runs; i++) {
      for (const fsType of ['ext4', 'xfs'] as const) {
        const name = `bench-${fsType}-${i}`;
        let context: Record<string, string> = {};
        steps.create.push(await time(async () => {
          ({ context } = await backend.createVolume({ name, parameters: { volumeGroup: env.vg, size: '320Mi', fsType } }));
        }));
        const { source } = backend.toVolume(backend.parameters.parse(context));
        steps[fsType].push(await time(() => manager.publish({ source, target: join(dir, `${name}-a`) })));
        steps.second.push(await time(() => manager.publish({ source, target: join(dir, `${name}-b`) })));
        steps.teardown.push(await time(async () => {
          await manager.unpublish(join(dir, `${name}-a`));
          await manager.unpublish(join(dir, `${name}-b`));
          await backend.deleteVolume(`${env.vg}/${name}`);
        }));
      }
    }
  } finally {
    const left = (await readMountInfo()).filter((m) => m.mountPoint.startsWith(dir)).reverse();
    for (const m of left) await execa('umount', ['--lazy', '--', m.mountPoint], { reject: false });
    await rm(dir, { recursive: true, force: true });
    await env.cleanup();
  }
  const row = (label: string, samples: number[]) => {
    const s = summarize(samples);
    return [label, s.n, ms(s.median), ms(Math.max(...samples))];
  };
  const create = summarize(steps.create).median;
  return {
    title: 'LVM: create, format and mount one volume',
    markdown: [
      `Fresh 320 MiB LV per run (${runs} runs per filesystem), real lvm2 with activation off, the LV's device a loop device at its offset in the PV (no device-mapper on this machine: the first publish includes finding the extents with pvs/lvs and attaching that loop device instead of activation).`,
      '',
      table(['step', 'n', 'median', 'max'], [
        row('createVolume (lvcreate + lvs/vgs reports)', steps.create),
        row('first publish, ext4 (blkid + mkfs.ext4 + mount + bind)', steps.ext4),
        row('first publish, xfs (blkid + mkfs.xfs + mount + bind)', steps.xfs),
        row('second publish of the same LV (bind only)', steps.second),
        row('teardown (2 unpublish + lvremove)', steps.teardown),
      ]),
      '',
      `Create + format + mount, median: ext4 ${ms(create + summarize(steps.ext4).median)}, xfs ${ms(create + summarize(steps.xfs).median)}. ` +
        `Every further consumer of the volume costs a bind mount (${ms(summarize(steps.second).median)}), not another mount of the device.`,
    ].join('\n'),
  };
}
