import { mkdir, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bindBackend } from '../../src/backends/bind.js';
import { mountCapability } from '../../test/helpers/csi-client.js';
import { ms, ratio, spawnOk, summarize, table, time, verdict, type BenchSection } from '../lib.js';
import { withCsiPlugin } from '../core/csi-session.js';
import type { Workspace } from '../core/workspace.js';
import { describePhases, onQuietDisk } from '../settle.js';

// Each sample copies 256 MiB, so a few rounds; SHAREMOUNT_BENCH_SAMPLES below 5 shortens a trial run.
const rounds = Math.max(1, Math.min(5, Number(process.env.SHAREMOUNT_BENCH_SAMPLES ?? 5)));
const files = 10_000;
const totalBytes = 256 * 1024 ** 2;
const target = 1.2;

/**
 * CreateSnapshot of a bind volume of 256 MiB in 10,000 files, and CreateVolume from that
 * snapshot (a clone), over real gRPC, against `cp -a` of the same tree, interleaved in one run
 * (each round: cp -a, the snapshot, the clone, each undone before the next; the order rotates).
 * Every copy reads a tree the page cache holds, as a snapshot of a volume in use would.
 */
export function run(): Promise<BenchSection> {
  const volumesOf = (ws: Workspace) => ws.path('volumes');
  const provisioning = (ws: Workspace) => [bindBackend({ provisioning: { root: volumesOf(ws), onDelete: 'delete', copyWorkDir: ws.path('copies') } })];
  return withCsiPlugin('snapshots-', provisioning, async (client, ws) => {
    const root = volumesOf(ws);
    const deadline = 3_600_000;
    const volume = (await client.controller.CreateVolume({ name: 'source', volume_capabilities: [mountCapability()], capacity_range: { required_bytes: totalBytes }, parameters: { path: root } })).volume;
    const source = join(root, volume.volume_context.subPath);
    await writeTree(source);
    const snapshotOf = async (name: string) => (await client.controller.CreateSnapshot({ name, source_volume_id: volume.volume_id }, deadline)).snapshot as { snapshot_id: string };
    const kept = await snapshotOf('kept'); // the clones' source
    const operations: Array<{ name: string; make: (i: number) => Promise<unknown>; unmake: (i: number) => Promise<unknown> }> = [
      { name: 'cp -a', make: (i) => spawnOk('cp', ['-a', '-T', '--', source, ws.path(`cp-${i}`)]), unmake: (i) => rm(ws.path(`cp-${i}`), { recursive: true }) },
      { name: 'CreateSnapshot', make: (i) => snapshotOf(`s-${i}`), unmake: (i) => client.controller.DeleteSnapshot({ snapshot_id: `bind:s-${i}` }, deadline) },
      {
        name: 'CreateVolume from the snapshot',
        make: (i) => client.controller.CreateVolume({ name: `clone-${i}`, volume_capabilities: [mountCapability()], parameters: { path: root }, volume_content_source: { snapshot: { snapshot_id: kept.snapshot_id } } }, deadline),
        unmake: (i) => client.controller.DeleteVolume({ volume_id: `bind:clone-${i}` }, deadline),
      },
    ];
    const phase = await onQuietDisk(ws.base, async () => {
      const samples = new Map(operations.map((op) => [op.name, [] as number[]]));
      for (let i = 0; i < rounds; i++) {
        for (let k = 0; k < operations.length; k++) {
          const op = operations[(i + k) % operations.length]!;
          samples.get(op.name)!.push(await time(() => op.make(i)));
          await op.unmake(i);
        }
      }
      return samples;
    });
    const cp = summarize(phase.result.get('cp -a')!);
    const rows = operations.map((op) => {
      const s = summarize(phase.result.get(op.name)!);
      return [op.name === 'cp -a' ? '`cp -a` of the tree' : `\`${op.name}\``, ms(s.median), ms(Math.max(...phase.result.get(op.name)!)), ratio(s.median, cp.median)];
    });
    const overCp = (name: string) => summarize(phase.result.get(name)!).median / cp.median;
    const worst = Math.max(overCp('CreateSnapshot'), overCp('CreateVolume from the snapshot'));
    await client.controller.DeleteSnapshot({ snapshot_id: kept.snapshot_id }, deadline);
    await client.controller.DeleteVolume({ volume_id: volume.volume_id }, deadline);
    const markdown = [
      `A bind volume of 256 MiB in ${files.toLocaleString('en')} files (100 directories), ${rounds} rounds interleaved in one run (the order rotates each round); each copy is removed before the next. The calls go over real gRPC to a plugin in the benchmark's process.`,
      '',
      table(['operation', 'median', 'slowest', 'vs `cp -a`'], rows),
      '',
      `- Target: CreateSnapshot and a clone within ${target}× \`cp -a\` of the same tree: ${verdict(worst <= target)} (worst ${worst.toFixed(2)}×). Both are \`cp -a\` through a read-only \`nosymfollow\` bind mount (docs/snapshots.md), plus the mount, the records and the rename.`,
      '',
      describePhases([['copies', phase]]),
    ].join('\n');
    return { title: 'CSI snapshots and clones against cp -a', markdown };
  });
}

/** 256 MiB in 10,000 files of equal size, in 100 directories. */
async function writeTree(dir: string): Promise<void> {
  const body = Buffer.alloc(Math.floor(totalBytes / files), 0x5a);
  for (let d = 0; d < 100; d++) await mkdir(join(dir, `d${d}`), { recursive: true });
  for (let start = 0; start < files; start += 200) {
    await Promise.all(Array.from({ length: Math.min(200, files - start) }, (_, i) => writeFile(join(dir, `d${(start + i) % 100}`, `f${start + i}`), body)));
  }
}
