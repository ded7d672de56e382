import { existsSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { run } from '../src/exec.js';

// A quiet disk: this little dirty or in-writeback page cache, machine-wide, and directory changes
// back at their normal cost for several seconds in a row: under 25 µs, or five times what the
// same pair costs on tmpfs (memory only, never slowed by the disk) where the machine is slower
// (tmpfs 3 µs and ext4 5 µs on one kind of VM here, 15 and 25 µs on another).
const quietKiB = 2048;
const quietPairUs = 25;
const quietOverTmpfs = 5;
const tmpfsDir = '/dev/shm';
const quietChecks = 5;
const settleLimitMs = 180_000;
const probePairs = 50;

/** How the disk was when a section or a measured phase started. */
export interface DiskState {
  /** How long the wait for a quiet disk took. */
  settledMs: number;
  /** False when the disk was still slow at the limit (the measurement ran anyway). */
  quiet: boolean;
  /** Median of one `symlink` + `unlink` on the temp dir's filesystem, in microseconds. */
  metadataPairUs: number;
}

/**
 * Waits until the disk has done what earlier work (a previous section or run) left it, then
 * returns the cost of one metadata call pair on it. On these VMs the root filesystem is ext4
 * without a journal, mounted with `discard`, on a rate-limited virtual disk: for a minute or
 * more after a run creates and removes thousands of records, every directory change there costs
 * 100 to 300 µs instead of 5 (seen falling 262, 140, 30, 5 µs over 40 s, tmpfs at 3 µs
 * throughout). The bare operations compared with the library (a spawned `mount`) never change a
 * directory, so a run started inside that window charges it to the library alone.
 */
export async function settleDisk(dir: string): Promise<DiskState> {
  const started = performance.now();
  await run('sync', [], { timeoutMs: settleLimitMs });
  const limitUs = Math.max(quietPairUs, existsSync(tmpfsDir) ? quietOverTmpfs * probeMetadata(tmpfsDir) : 0);
  let quietInARow = 0;
  let metadataPairUs = probeMetadata(dir);
  while (performance.now() - started < settleLimitMs) {
    quietInARow = (await pendingWritebackKiB()) < quietKiB && metadataPairUs < limitUs ? quietInARow + 1 : 0;
    if (quietInARow >= quietChecks) break;
    await new Promise((done) => setTimeout(done, 1_000));
    metadataPairUs = probeMetadata(dir);
  }
  return { settledMs: performance.now() - started, quiet: quietInARow >= quietChecks, metadataPairUs };
}

/** The median cost of one `symlink` + `unlink` in `dir` now, in µs. */
export function probeMetadata(dir: string): number {
  const link = join(dir, '.settle-probe');
  rmSync(link, { force: true }); // one left by a run that was killed midway
  const pairs: number[] = [];
  for (let i = 0; i < probePairs; i++) {
    const start = performance.now();
    symlinkSync('/', link);
    unlinkSync(link);
    pairs.push((performance.now() - start) * 1000);
  }
  pairs.sort((a, b) => a - b);
  return pairs[pairs.length >> 1]!;
}

/** The stamp's words for the disk at a section's start and its metadata cost at the end. */
export function describeDisk(disk: DiskState, endPairUs: number): string {
  const settled = disk.quiet ? `disk settled in ${(disk.settledMs / 1000).toFixed(0)} s` : `**disk still slow after ${(disk.settledMs / 1000).toFixed(0)} s**`;
  return `${settled}; one symlink + unlink on the temp dir's filesystem ${disk.metadataPairUs.toFixed(0)} µs at the start, ${endPairUs.toFixed(0)} µs at the end`;
}

async function pendingWritebackKiB(): Promise<number> {
  const meminfo = await readFile('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(meminfo)?.[1] ?? 0);
  return field('Dirty') + field('Writeback');
}

/** A phase's result with the disk's state around it. */
export interface OnQuietDisk<T> {
  result: T;
  disk: DiskState;
  /** `probeMetadata` right after the phase. */
  endPairUs: number;
}

/**
 * Runs one measured phase on a quiet disk. A section's own earlier phases (thousands of mounts
 * added, thousands of references made and removed) slow the disk for a minute as much as a
 * previous run does, so every phase that compares the library with bare operations waits too.
 */
export async function onQuietDisk<T>(dir: string, phase: () => Promise<T>): Promise<OnQuietDisk<T>> {
  const disk = await settleDisk(dir);
  const result = await phase();
  return { result, disk, endPairUs: probeMetadata(dir) };
}

/** One line for a report: how the disk was around each named phase. */
export function describePhases(phases: ReadonlyArray<readonly [name: string, OnQuietDisk<unknown>]>): string {
  return `Each phase started on a quiet disk (bench/settle.ts); one symlink + unlink on the temp dir's filesystem cost, at its start and end: ${phases
    .map(([name, { disk, endPairUs }]) => `${name} ${disk.metadataPairUs.toFixed(0)} and ${endPairUs.toFixed(0)} µs${disk.quiet ? '' : ' (**still slow when it started**)'}`)
    .join('; ')}.`;
}
