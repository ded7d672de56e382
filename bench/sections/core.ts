import { performance } from 'node:perf_hooks';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { isWithin } from '../../src/target.js';
import type { BenchSection } from '../lib.js';
import { measureInterleaved } from '../core/interleave.js';
import { latencyComparisons } from '../core/latency-pairs.js';
import { memorySnapshot } from '../core/memory.js';
import { buildReferences, expectNothingRepaired, removeReferences } from '../core/reconcile-load.js';
import { renderCore, type ReconcileFigures } from '../core/report.js';
import { addUnrelatedMounts, unrelatedMountCount } from '../core/unrelated-mounts.js';
import { createWorkspace } from '../core/workspace.js';
import { describePhases, onQuietDisk } from '../settle.js';

// SHAREMOUNT_BENCH_SAMPLES shortens a trial run; the published figures use the default.
const samples = Number(process.env.SHAREMOUNT_BENCH_SAMPLES ?? 300);
const rounds = { warmup: Math.max(5, Math.round(samples / 10)), samples };
const load = { shares: 100, perShare: 50, concurrency: 8 };
const reconcileRuns = 5;

/**
 * The core's costs against the bare operations they must perform: publish and unpublish of each
 * strategy, again with 5,000 unrelated mounts in the namespace, and reconcile() over 5,000
 * references. Everything lives in one temp dir and is removed, mounts first, even on failure.
 */
export async function run(): Promise<BenchSection> {
  const ws = await createWorkspace('core-');
  const undo: Array<() => Promise<unknown>> = [];
  const undoLast = async () => undo.pop()?.();
  let failed = false;
  try {
    const manager = new MountManager({ root: ws.path('root'), backends: [bindBackend({ allowedPaths: ['/'] })] });
    const { comparisons, release } = await latencyComparisons(manager, ws);
    undo.push(release);
    const pairs = comparisons.flatMap((comparison) => [comparison.library, comparison.bare]);
    const baseMounts = (await readMountInfo()).length;
    const plain = await onQuietDisk(ws.base, () => measureInterleaved(pairs, rounds));
    const symlinkComparison = comparisons.find((comparison) => comparison.library.name === 'symlink');
    if (!symlinkComparison) throw new Error('the core comparisons lost their symlink pair');
    const alone = await onQuietDisk(ws.base, () => measureInterleaved([symlinkComparison.library, symlinkComparison.bare], rounds));

    undo.push(await addUnrelatedMounts(ws.path('unrelated')));
    const crowdedMounts = (await readMountInfo()).length;
    const crowded = await onQuietDisk(ws.base, () => measureInterleaved(pairs, rounds));
    await undoLast(); // the unrelated mounts
    await undoLast(); // the anchor publication

    const reconcile = await measureReconcile(ws, undo);
    return {
      title: 'Core: publish, unpublish and reconcile (bind backend)',
      markdown: [
        renderCore({ comparisons, plain: plain.result, crowded: crowded.result, rounds, baseMounts, crowdedMounts, unrelated: unrelatedMountCount, reconcile, symlinkAlone: alone.result.get('symlink')! }),
        describePhases([['latency', plain], ['symlink alone', alone], ['with 5,000 unrelated mounts', crowded]]),
      ].join('\n\n'),
    };
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    while (undo.length > 0) await undoLast().catch((error: unknown) => console.error('core: cleanup step failed:', error));
    // A cleanup failure must not hide the measurement's own failure.
    await ws.dispose().catch((error: unknown) => {
      if (!failed) throw error;
      console.error('core: removing the workspace failed:', error);
    });
  }
}

async function measureReconcile(ws: Awaited<ReturnType<typeof createWorkspace>>, undo: Array<() => Promise<unknown>>): Promise<ReconcileFigures> {
  const manager = new MountManager({ root: ws.path('load-root'), backends: [bindBackend({ allowedPaths: ['/'] })] });
  const memoryBefore = memorySnapshot();
  const built = await buildReferences(manager, ws, load);
  undo.push(() => removeReferences(manager, built.targets, load.concurrency));
  const memoryHolding = memorySnapshot();

  const reconcileMs: number[] = [];
  for (let i = 0; i < 1 + reconcileRuns; i++) {
    const start = performance.now();
    const report = await manager.reconcile();
    reconcileMs.push(performance.now() - start);
    expectNothingRepaired(report, load.shares);
  }
  const listMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const shares = await manager.list();
    listMs.push(performance.now() - start);
    const listed = shares.reduce((sum, share) => sum + share.publications.length, 0);
    if (listed !== built.publications) throw new Error(`list() shows ${listed} publications, expected ${built.publications}`);
  }
  const memoryAfter = memorySnapshot();

  undo.pop();
  const teardownMs = await removeReferences(manager, built.targets, load.concurrency);
  const root = await manager.root();
  const left = (await readMountInfo()).filter((entry) => isWithin(entry.mountPoint, root) || isWithin(entry.mountPoint, ws.path('load-targets')));
  if (left.length > 0 || (await manager.list()).length > 0) throw new Error(`after unpublishing everything, ${left.length} mounts and some shares remain`);
  return { built, reconcileMs, listMs, teardownMs, memory: { before: memoryBefore, holding: memoryHolding, after: memoryAfter } };
}
