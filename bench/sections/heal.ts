import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { mountAt, readMountInfoText } from '../../src/mountinfo.js';
import type { Source } from '../../src/backend.js';
import { ms, spawnOk, summarize, table, time, verdict, type BenchSection } from '../lib.js';
import { createWorkspace } from '../core/workspace.js';

// SHAREMOUNT_BENCH_HEAL_ROUNDS shortens a trial run; the published figures use the default.
const rounds = Number(process.env.SHAREMOUNT_BENCH_HEAL_ROUNDS ?? 5);
const publications = 200;
const subdirs = 10;
const target = 1.3;

/**
 * The heal of a broken share (docs/healing.md) with 200 publications, against what it must do
 * at least: 200 spawned `mount --bind` in the same run. The share's source is a bindfs (FUSE)
 * mount whose daemon is killed (the share answers ENOTCONN) and started again; then one
 * `reconcile()` heals it: one statfs per share, the source mounted again beside the broken
 * mount and swapped in, one `umount --lazy` for every publication, and each bound again.
 * Rounds alternate the heal and the bare binds, medians over the rounds.
 */
export async function run(): Promise<BenchSection> {
  const ws = await createWorkspace('heal-');
  let daemon: ChildProcess | undefined;
  const heal: number[] = [];
  const bare: number[] = [];
  try {
    const backing = ws.path('backing');
    const fuse = ws.path('fuse');
    await mkdir(backing);
    await mkdir(fuse);
    for (let i = 0; i < subdirs; i++) {
      await mkdir(ws.path('backing', dirName(i)));
      await writeFile(ws.path('backing', dirName(i), 'data.txt'), `${i}\n`);
    }
    daemon = await startBindfs(backing, fuse);
    const manager = new MountManager({ root: ws.path('root'), backends: [bindBackend({ allowedPaths: ['/'] })] });
    await mkdir(ws.path('pods'));
    const source = { backend: 'bind', path: fuse } as Source;
    for (let i = 0; i < publications; i++) {
      await manager.publish({ source, subPath: dirName(i % subdirs), readOnly: i % 5 === 0, target: ws.path('pods', `pod-${i}`) });
    }
    const bareTargets = Array.from({ length: publications }, (_, i) => ws.path('bare', `t-${i}`));
    for (const path of bareTargets) await mkdir(path, { recursive: true });

    for (let round = 0; round < rounds; round++) {
      daemon.kill('SIGKILL');
      await new Promise((resolve) => daemon!.once('exit', resolve));
      await execa('umount', ['--lazy', '--no-canonicalize', '--', fuse]);
      daemon = await startBindfs(backing, fuse);
      heal.push(
        await time(async () => {
          const report = await manager.reconcile();
          const healed = report.healedShares[0]?.republished.length ?? 0;
          if (healed !== publications || report.problems.length > 0) throw new Error(`the heal made ${healed} publications again (expected ${publications}): ${JSON.stringify(report.problems).slice(0, 300)}`);
        }),
      );
      bare.push(await time(async () => {
        for (const path of bareTargets) await spawnOk('mount', ['--bind', backing, path]);
      }));
      await execa('umount', ['--lazy', '--', ...bareTargets]);
    }
    for (let i = 0; i < publications; i++) await manager.unpublish(ws.path('pods', `pod-${i}`));
  } finally {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await ws.dispose();
  }
  const h = summarize(heal);
  const b = summarize(bare);
  const ratio = h.median / b.median;
  return {
    title: 'Heal: a broken share with 200 publications',
    markdown: [
      `A bind share of a bindfs (FUSE) source with ${publications} publications (${subdirs} sub-directories, every fifth read-only), its daemon killed and started again, then healed by one \`reconcile()\`; against ${publications} spawned \`mount --bind\` one after the other, in the same run. ${rounds} rounds, alternating.`,
      '',
      table(['what', 'n', 'median', 'max', 'per publication'], [
        [`heal (reconcile) of ${publications} publications`, h.n, ms(h.median), ms(Math.max(...heal)), ms(h.median / publications)],
        [`${publications} spawned \`mount --bind\``, b.n, ms(b.median), ms(Math.max(...bare)), ms(b.median / publications)],
      ]),
      '',
      `Heal / bare binds: ${ratio.toFixed(2)}× (target ≤ ${target}×: ${verdict(ratio <= target)}). The heal detaches all ${publications} broken publications with one \`umount --lazy\` and binds them again four at a time (each read-only one is a bind and a remount, as util-linux makes it).`,
    ].join('\n'),
  };
}

function dirName(i: number): string {
  return `d${String(i).padStart(3, '0')}`;
}

/** bindfs in the foreground, as our child; resolves once the kernel shows its mount. */
async function startBindfs(source: string, mountPoint: string): Promise<ChildProcess> {
  const child = spawn('bindfs', ['-f', '--no-allow-other', source, mountPoint], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 400; attempt++) {
    if (mountAt(readMountInfoText(), mountPoint)?.fsType.startsWith('fuse')) return child;
    if (child.exitCode !== null) break;
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`bindfs did not mount ${mountPoint} (is bindfs installed?)`);
}

