import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** One part of docs/benchmarks.md, produced by a file in bench/sections/. */
export interface BenchSection {
  title: string;
  /** Markdown body: a table of measurements and a line on each target (met or not). */
  markdown: string;
}

export interface Summary {
  n: number;
  median: number;
  p99: number;
  mean: number;
}

/** Median, p99 and mean of samples (milliseconds). */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))] ?? Number.NaN;
  return { n: sorted.length, median: at(0.5), p99: at(0.99), mean: sorted.reduce((s, x) => s + x, 0) / (sorted.length || 1) };
}

/** Runs `fn` and returns its duration in milliseconds. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export const ms = (value: number) => `${value.toFixed(3)} ms`;

/** `value` as a multiple of `base`, for a table cell or a target line: "1.23×". */
export const ratio = (value: number, base: number) => `${(value / base).toFixed(2)}×`;

/** A markdown table from a header and rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "met" or "NOT met" with the measured ratio, for a target line. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : '**NOT met**';
}

/** Runs a command to completion; throws when it exits non-zero. `env` is its whole environment (default: this process's). */
export function spawnOk(command: string, args: readonly string[], env?: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args[0]} exited ${code}: ${output.slice(0, 300)}`))));
  });
}
