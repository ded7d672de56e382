import { ms, ratio, summarize, table, verdict, type Summary } from '../lib.js';
import type { PairSamples } from './interleave.js';
import type { Comparison } from './latency-pairs.js';
import { mib, type MemorySnapshot } from './memory.js';
import type { ReferenceLoad } from './reconcile-load.js';

export interface ReconcileFigures {
  built: ReferenceLoad;
  /** The first run, then the repeated ones. */
  reconcileMs: number[];
  listMs: number[];
  teardownMs: number;
  memory: { before: MemorySnapshot; holding: MemorySnapshot; after: MemorySnapshot };
}

export interface CoreFigures {
  comparisons: Comparison[];
  plain: ReadonlyMap<string, PairSamples>;
  crowded: ReadonlyMap<string, PairSamples>;
  rounds: { warmup: number; samples: number };
  baseMounts: number;
  crowdedMounts: number;
  unrelated: number;
  reconcile: ReconcileFigures;
  /** The symlink pair measured on its own: no spawned mount's aftermath (GC, exit events) in between. */
  symlinkAlone: PairSamples;
}

const targets = { bindRatio: 1.3, symlinkMedianMs: 1, crowdedRatio: 1.2, reconcileMs: 1000 };

/** One measured row: a label and the summaries of its samples with and without unrelated mounts. */
interface Row {
  label: string;
  library: boolean;
  plain: Summary;
  crowded: Summary;
}

/** docs/benchmarks.md's core section: latency tables, the mount-table comparison, reconcile, memory, targets. */
export function renderCore(figures: CoreFigures): string {
  const { comparisons, rounds } = figures;
  const stat = (samples: ReadonlyMap<string, PairSamples>, name: string, half: keyof PairSamples) => summarize(samples.get(name)![half]);
  const rows = (c: Comparison) => {
    const row = (label: string, library: boolean, name: string, half: keyof PairSamples): Row => ({
      label,
      library,
      plain: stat(figures.plain, name, half),
      crowded: stat(figures.crowded, name, half),
    });
    return {
      make: row(c.labels.libraryMake, true, c.library.name, 'make'),
      unmake: row(c.labels.libraryUnmake, true, c.library.name, 'unmake'),
      bareMake: row(c.labels.bareMake, false, c.bare.name, 'make'),
      bareUnmake: row(c.labels.bareUnmake, false, c.bare.name, 'unmake'),
    };
  };
  const measured = comparisons.map(rows);
  const [bind, , symlink] = measured;
  if (!bind || !symlink) throw new Error('the core comparisons lost their bind and symlink pairs');

  const latency = table(
    ['library operation', 'median', 'p99', 'bare operation', 'median', 'p99', 'library / bare (median)'],
    measured.flatMap((m) => [
      [m.make.label, ms(m.make.plain.median), ms(m.make.plain.p99), m.bareMake.label, ms(m.bareMake.plain.median), ms(m.bareMake.plain.p99), ratio(m.make.plain.median, m.bareMake.plain.median)],
      [m.unmake.label, ms(m.unmake.plain.median), ms(m.unmake.plain.p99), m.bareUnmake.label, ms(m.bareUnmake.plain.median), ms(m.bareUnmake.plain.p99), ratio(m.unmake.plain.median, m.bareUnmake.plain.median)],
    ]),
  );

  const all = measured.flatMap((m) => [m.make, m.unmake, m.bareMake, m.bareUnmake]);
  const crowdedTable = table(
    ['operation', `median, ${figures.baseMounts} mounts`, `median, ${count(figures.crowdedMounts)} mounts`, 'ratio', `p99, ${figures.baseMounts}`, `p99, ${count(figures.crowdedMounts)}`],
    all.map((r) => [r.library ? r.label : `bare: ${r.label}`, ms(r.plain.median), ms(r.crowded.median), ratio(r.crowded.median, r.plain.median), ms(r.plain.p99), ms(r.crowded.p99)]),
  );
  // Each library operation with its bare counterpart, to tell the library's growth from mount(8)'s.
  const growth = (r: Row) => r.crowded.median / r.plain.median;
  const libraryWithBare = measured.flatMap((m) => [
    { library: m.make, bare: m.bareMake },
    { library: m.unmake, bare: m.bareUnmake },
  ]);
  const worst = libraryWithBare.reduce((a, b) => (growth(b.library) > growth(a.library) ? b : a));
  const overLimit = libraryWithBare.filter((p) => growth(p.library) > targets.crowdedRatio);
  const crowdedDetail =
    overLimit.length === 0
      ? ''
      : ` Over the limit: ${overLimit.map((p) => `"${p.library.label}" ${growth(p.library).toFixed(2)}× (its bare ${p.bare.label} ${growth(p.bare).toFixed(2)}×)`).join('; ')}.`;

  const rec = figures.reconcile;
  const [firstReconcile, ...repeated] = rec.reconcileMs;
  const reconcileSummary = summarize(repeated);
  const reconcileTable = table(
    ['measurement', 'value'],
    [
      ['publications / shares (bind strategy, real mounts)', `${count(rec.built.publications)} / ${rec.built.shares}`],
      [`building them: \`publish\`, ${rec.built.concurrency} in flight`, `${(rec.built.buildMs / 1000).toFixed(1)} s (${rate(rec.built.publications, rec.built.buildMs)} publishes/s)`],
      ['`reconcile()`, first run', ms(firstReconcile!)],
      [`\`reconcile()\`, next ${repeated.length} runs: median (min to max)`, `${ms(reconcileSummary.median)} (${ms(Math.min(...repeated))} to ${ms(Math.max(...repeated))})`],
      [`\`list()\`, median of ${rec.listMs.length}`, ms(summarize(rec.listMs).median)],
      [`unpublishing all of them, ${rec.built.concurrency} in flight`, `${(rec.teardownMs / 1000).toFixed(1)} s (${rate(rec.built.publications, rec.teardownMs)} unpublishes/s)`],
    ],
  );
  const memoryTable = table(
    ['moment', 'RSS', 'heap used (after a full GC)'],
    [
      ['before publishing', mib(rec.memory.before.rssBytes), mib(rec.memory.before.heapUsedBytes)],
      [`holding ${count(rec.built.publications)} references`, mib(rec.memory.holding.rssBytes), mib(rec.memory.holding.heapUsedBytes)],
      [`after ${rec.reconcileMs.length} reconciles and ${rec.listMs.length} lists`, mib(rec.memory.after.rssBytes), mib(rec.memory.after.heapUsedBytes)],
    ],
  );

  const bindRatio = bind.make.plain.median / bind.bareMake.plain.median;
  const symlinkAlone = summarize(figures.symlinkAlone.make);
  const reconcileMs = reconcileSummary.median;
  const targetLines = [
    `- Bind publish ≤ ${targets.bindRatio}× the bare spawned bind mount: ${ms(bind.make.plain.median)} vs ${ms(bind.bareMake.plain.median)}, ${ratio(bind.make.plain.median, bind.bareMake.plain.median)}: ${verdict(bindRatio <= targets.bindRatio)}.`,
    `- Symlink publish ≤ ${targets.symlinkMedianMs} ms median: ${ms(symlinkAlone.median)} measured alone (p99 ${ms(symlinkAlone.p99)}): ${verdict(symlinkAlone.median <= targets.symlinkMedianMs)}. ` +
      `Interleaved with the other pairs it is ${ms(symlink.make.plain.median)} (table below): the garbage and exit events of their spawned \`mount\`/\`umount\` are collected and handled during it.`,
    `- At most ${targets.crowdedRatio}× slower with ${figures.unrelated.toLocaleString('en-US')} unrelated mounts, every library operation: worst is "${worst.library.label}", ${growth(worst.library).toFixed(2)}×: ${verdict(overLimit.length === 0)}.${crowdedDetail}`,
    `- \`reconcile()\` of ${rec.built.publications.toLocaleString('en-US')} references ≤ ${targets.reconcileMs / 1000} s: ${ms(reconcileMs)} (median of ${repeated.length}; first run ${ms(firstReconcile!)}): ${verdict(reconcileMs <= targets.reconcileMs && firstReconcile! <= targets.reconcileMs)}.`,
  ];

  return `One \`MountManager\` with the bind backend; state root, sources and targets in one temp dir.
Each library operation runs next to the bare operations it must perform (the same \`run\` from
src/exec.ts, same arguments and environment, for \`mount\`/\`umount\`; plain \`fs.symlink\` and
\`fs.unlink\`), round-robin, ${rounds.warmup} warm-up rounds then ${rounds.samples} samples each. An anchor
publication keeps the share mounted, so "publish" is what every pod after the first costs (one
bind mount of a sub-directory, or one symlink); the last pair publishes a share's first
consumer, which mounts the share too. Targets exist beforehand (kubelet makes them) and
unpublish leaves them (\`removeTarget: false\`).

### Targets

${targetLines.join('\n')}

### Latency (${figures.baseMounts} mounts in the namespace)

${latency}

### With ${figures.unrelated.toLocaleString('en-US')} unrelated mounts

The same pairs, measured again after adding ${figures.unrelated.toLocaleString('en-US')} mounts that have nothing to do with
sharemount (a tmpfs with bind mounts of its directories) to the namespace: ${count(figures.crowdedMounts)} mounts in all.

${crowdedTable}

### reconcile() with ${rec.built.publications.toLocaleString('en-US')} references over ${rec.built.shares} shares

Built through the manager itself: ${rec.built.shares} host directories as sources, ${rec.built.publications / rec.built.shares} sub-directories of
each published (\`createIfNecessary\`) onto its own target. Every \`reconcile()\` run checked all
${rec.built.shares} shares and found nothing to repair (the benchmark fails otherwise).

${reconcileTable}

### Memory of the process holding ${rec.built.publications.toLocaleString('en-US')} references

References live on disk, not in the process; this is the whole benchmark process (tsx included).

${memoryTable}

When a target is not met, \`bench/tools/publish-steps.ts\` and \`bench/tools/reconcile-steps.ts\` time
each step of publish, unpublish and reconcile (see their headers).`;
}

function rate(count: number, milliseconds: number): string {
  return Math.round(count / (milliseconds / 1000)).toLocaleString('en-US');
}

const count = (n: number) => n.toLocaleString('en-US');
