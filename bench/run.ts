/**
 * The benchmark runner (`npm run bench [-- section...]`, via scripts/bench.sh, as root in a
 * private mount namespace). Runs the sections in bench/sections/ one after the other (never in
 * parallel: they would skew each other's timings) and writes docs/benchmarks.md. A section that
 * throws, or leaves a mount or a temp file behind, is reported as failed and the run exits 1
 * after writing the rest. When only some sections are chosen, the others keep their last
 * results in the document, each dated.
 */
import { mkdtemp, readdir, readFile, readlink, rmdir, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readMountInfo, type MountInfoEntry } from '../src/mountinfo.js';
import { unmount } from '../src/mount-command.js';
import { machineInfo, machineMarkdown } from './machine.js';
import type { BenchSection } from './lib.js';
import { describeDisk, probeMetadata, settleDisk } from './settle.js';

const sectionsDir = fileURLToPath(new URL('./sections/', import.meta.url));
const outputFile = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

interface Outcome {
  name: string;
  failed: boolean;
  /** The section's block in the document, between its markers. */
  block: string;
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const available = await sectionNames();
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: npm run bench [-- section...]\nsections: ${available.join(', ')}`);
    return 0;
  }
  if (args.includes('--list')) {
    console.log(available.join('\n'));
    return 0;
  }
  const unknown = args.filter((name) => !available.includes(name));
  if (unknown.length > 0) {
    console.error(`bench: no section named ${unknown.join(', ')} (sections: ${available.join(', ')})`);
    return 2;
  }
  const chosen = args.length > 0 ? available.filter((name) => args.includes(name)) : available;
  await checkPrivileges();

  // Every section's temp files go into one directory of this run, so that what a section leaves
  // behind is seen (and other processes' temp files are not mistaken for it).
  const machine = await machineInfo();
  const runTemp = await mkdtemp(join(tmpdir(), 'sharemount-bench-'));
  process.env.TMPDIR = runTemp;
  const startedAt = new Date();
  const outcomes: Outcome[] = [];
  for (const name of chosen) {
    console.error(`bench: ${name}...`);
    const outcome = await runSection(name, runTemp);
    console.error(`bench: ${name} ${outcome.failed ? 'FAILED' : 'done'}`);
    outcomes.push(outcome);
  }
  const tempLeft = await rmdir(runTemp).then(
    () => false,
    () => true,
  );

  const kept = args.length > 0 ? await previousBlocks(available.filter((name) => !chosen.includes(name))) : new Map<string, string>();
  const fresh = new Map(outcomes.map((outcome) => [outcome.name, outcome.block]));
  const blocks = available.flatMap((name) => {
    const block = fresh.get(name) ?? kept.get(name);
    return block === undefined ? [] : [block];
  });
  await writeFile(outputFile, renderDocument(startedAt, machineMarkdown(machine), chosen, blocks));
  console.error(`bench: wrote ${outputFile}`);

  const failed = outcomes.filter((outcome) => outcome.failed).map((outcome) => outcome.name);
  if (tempLeft) console.error(`bench: ${runTemp} is not empty; left in place`);
  if (failed.length > 0) console.error(`bench: failed: ${failed.join(', ')}`);
  return failed.length > 0 || tempLeft ? 1 : 0;
}

/** Section names from bench/sections/*.ts: `core` first (the library itself), then by name. */
async function sectionNames(): Promise<string[]> {
  const files = await readdir(sectionsDir).catch(() => []);
  const names = files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')).map((file) => file.slice(0, -3));
  return names.sort((a, b) => (a === 'core' ? -1 : b === 'core' ? 1 : a.localeCompare(b)));
}

async function checkPrivileges(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the benchmark makes real mounts and must run as root (npm run bench)');
  // Mounts made in the host's namespace would be seen by everything else on the machine.
  const [own, init] = await Promise.all([readlink('/proc/self/ns/mnt'), readlink('/proc/1/ns/mnt').catch(() => '')]);
  if (own === init) throw new Error('run the benchmark in a private mount namespace: npm run bench (scripts/bench.sh does it)');
}

async function runSection(name: string, runTemp: string): Promise<Outcome> {
  // Every section starts on a quiet disk: what the previous one did slows its file calls.
  const disk = await settleDisk(runTemp);
  const mountsBefore = await readMountInfo();
  const started = performance.now();
  const at = new Date();
  const loadStart = loadavg()[0]!;
  let section: BenchSection | undefined;
  let error: unknown;
  try {
    const module = (await import(pathToFileURL(join(sectionsDir, `${name}.ts`)).href)) as { run?: () => Promise<BenchSection> };
    if (typeof module.run !== 'function') throw new Error(`bench/sections/${name}.ts does not export run()`);
    section = await module.run();
    if (typeof section?.title !== 'string' || typeof section.markdown !== 'string') throw new Error('run() did not return { title, markdown }');
  } catch (caught) {
    error = caught;
  }
  const seconds = (performance.now() - started) / 1000;
  const loadEnd = loadavg()[0]!;
  const endPairUs = probeMetadata(runTemp);
  const leftovers = [...(await leftoverMounts(mountsBefore)), ...(await leftoverFiles(runTemp))];
  const failed = error !== undefined || leftovers.length > 0;
  const stamp = `_Section \`${name}\`: ${failed ? '**FAILED**' : 'measured'} ${formatDate(at)}, ${seconds.toFixed(1)} s; ${describeLoad(loadStart, loadEnd)}; ${describeDisk(disk, endPairUs)}._`;
  const parts = [`## ${section?.title ?? name}${failed ? ' (FAILED)' : ''}`, stamp];
  if (section) parts.push(section.markdown.trim());
  if (error !== undefined) {
    console.error(error);
    parts.push(`The section threw:\n\n\`\`\`\n${describeError(error)}\n\`\`\``);
  }
  if (leftovers.length > 0) {
    console.error(`bench: ${name} left behind:\n  ${leftovers.join('\n  ')}`);
    parts.push(`The section left behind (a bug in the section; the runner removed the mounts):\n\n${leftovers.map((item) => `- \`${item}\``).join('\n')}`);
  }
  return { name, failed, block: `<!-- section: ${name} -->\n${parts.join('\n\n')}\n<!-- /section: ${name} -->` };
}

/** Mounts that appeared during a section; they are detached so the next section starts clean. */
async function leftoverMounts(before: readonly MountInfoEntry[]): Promise<string[]> {
  const known = new Set(before.map((entry) => entry.id));
  const added = (await readMountInfo()).filter((entry) => !known.has(entry.id));
  for (const entry of [...added].reverse()) await unmount(entry.mountPoint, 30_000).catch(() => {});
  return added.slice(0, 20).map((entry) => `mount ${entry.mountPoint}`).concat(added.length > 20 ? [`... ${added.length - 20} more mounts`] : []);
}

async function leftoverFiles(runTemp: string): Promise<string[]> {
  return (await readdir(runTemp)).map((name) => `file ${join(runTemp, name)}`);
}

/** Blocks of sections not run this time, from the current document, to keep their last results. */
async function previousBlocks(names: readonly string[]): Promise<Map<string, string>> {
  const text = await readFile(outputFile, 'utf8').catch(() => '');
  const blocks = new Map<string, string>();
  for (const name of names) {
    const start = text.indexOf(`<!-- section: ${name} -->`);
    const endMarker = `<!-- /section: ${name} -->`;
    const end = text.indexOf(endMarker, start);
    if (start !== -1 && end !== -1) blocks.set(name, text.slice(start, end + endMarker.length));
  }
  return blocks;
}

function renderDocument(startedAt: Date, machine: string, chosen: readonly string[], blocks: readonly string[]): string {
  return `# Benchmarks

<!-- Written by bench/run.ts (npm run bench); edits by hand are lost on the next run. -->

Last run: ${formatDate(startedAt)} (sections: ${chosen.join(', ')}), on this machine:

${machine}

## How to reproduce

As root, on a Debian 12 machine: \`npm run bench\` runs every section; \`npm run bench -- core\`
runs only the named ones (the others keep their previous results here, each with its own date).
It runs \`bench/run.ts\` inside \`unshare --mount --propagation private\`, so no mount it makes
is visible outside, and every section removes what it created. Each section, and each phase
that compares the library with bare operations, starts on a quiet disk: after \`sync\`, once the
kernel holds under 2 MiB of dirty or in-writeback pages and a symlink + unlink in the temp dir
has cost under 25 µs (on a slower machine, under five times its cost on tmpfs) for 5 s in a
row (bench/settle.ts; the stamps give that cost at the start and end). On these VMs thousands of records made and removed slow every directory change for a
minute or more, and only the library's side of a comparison makes any. Latencies are wall-clock
times in one Node process, median and 99th percentile over the stated number of samples, after a
warm-up.

${blocks.join('\n\n')}
`;
}

// Other work on the machine inflates absolute times (and spawns most), less so side-by-side ratios.
// Only the load at the start says so: by the end, the section's own parallel work is in it.
function describeLoad(start: number, end: number): string {
  const cores = availableParallelism();
  const busy = start > cores ? ', **the machine was busy with other work**: absolute times are inflated' : '';
  return `load average ${start.toFixed(1)} at the start, ${end.toFixed(1)} at the end, on ${cores} cores${busy}`;
}

function formatDate(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  return text.replaceAll('```', "'''");
}

// process.exit, not exitCode: a section's forgotten timer or socket must not keep the run alive.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
