import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { exited } from './processes.js';
import { mkdir } from 'node:fs/promises';
import { seedSourceTree, type Sandbox } from './sandbox.js';
import type { WorkerConfig } from './operations.js';

const workerScript = fileURLToPath(new URL('./worker.ts', import.meta.url));
const repository = fileURLToPath(new URL('../..', import.meta.url));
const bundles = new Map<string, string>();

/**
 * How to run worker.ts: by default bundled once per sandbox by esbuild (tsx's own transpiler)
 * into one CommonJS file, which starts in about 70 ms of CPU instead of 500 ms with the tsx
 * loader; that matters when the crash test starts 200 processes on 2 cores. Setting
 * SHAREMOUNT_TEST_WORKER=tsx runs the TypeScript source with `node --import tsx` instead.
 */
function workerArgv(sandbox: Sandbox): string[] {
  if (process.env.SHAREMOUNT_TEST_WORKER === 'tsx') return ['--import', 'tsx', workerScript];
  let bundle = bundles.get(sandbox.dir);
  if (!bundle) {
    bundle = join(sandbox.dir, 'worker.cjs');
    buildSync({ entryPoints: [workerScript], bundle: true, platform: 'node', format: 'cjs', target: 'node22', outfile: bundle, logLevel: 'warning' });
    bundles.set(sandbox.dir, bundle);
  }
  return [bundle];
}

/** A running worker process (see worker.ts). */
export interface Worker {
  child: ChildProcess;
  /** Resolves when the worker has printed `ready` (its manager is initialised). */
  ready: Promise<void>;
  /** Resolves when it exits, with everything it printed. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/**
 * Starts worker.ts in its own process (one node process, so that its PID is the code under
 * test and SIGKILL of it kills nothing else), tracked by the sandbox so that cleanup kills it whatever happens.
 */
export function startWorker(sandbox: Sandbox, config: WorkerConfig, env: Record<string, string> = {}): Worker {
  const child = sandbox.track(
    spawn(process.execPath, [...workerArgv(sandbox), JSON.stringify(config)], {
      cwd: repository,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = exited(child).then(async (status) => {
    // Let the pipes drain: the exit event can come before the last output.
    await Promise.all([streamEnd(child.stdout!), streamEnd(child.stderr!)]);
    return { ...status, stdout, stderr };
  });
  const ready = new Promise<void>((resolve, reject) => {
    const onData = () => {
      if (stdout.startsWith('ready\n')) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    void done.then((status) => reject(new Error(`worker exited before it was ready (${status.code ?? status.signal}): ${status.stderr}`)));
  });
  ready.catch(() => {}); // observed by whoever awaits it
  return { child, ready, done };
}

/** Runs one worker to completion and returns its last stdout line parsed as JSON; fails on a non-zero exit. */
export async function runWorker<T>(sandbox: Sandbox, config: WorkerConfig, env: Record<string, string> = {}): Promise<T> {
  const { done } = startWorker(sandbox, config, env);
  const result = await done;
  if (result.code !== 0) throw new Error(`worker exited with ${result.code ?? result.signal}: ${result.stderr}`);
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

function streamEnd(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.closed || stream.readableEnded) resolve();
    else stream.once('close', () => resolve());
  });
}

/**
 * The shared setup of the many-process tests: three seeded bind sources and nine pod targets
 * in the sandbox, as a worker configuration (without its seed).
 */
export async function threeSourceConfig(sandbox: Sandbox, dirsPerSource: number): Promise<Omit<WorkerConfig, 'seed'>> {
  const sources = ['a', 'b', 'c'].map((name) => join(sandbox.source, name));
  let subdirs: string[] = [];
  for (const source of sources) {
    await mkdir(source);
    subdirs = await seedSourceTree(source, dirsPerSource);
  }
  return { root: sandbox.root, sources, subdirs, targets: Array.from({ length: 9 }, (_, i) => join(sandbox.pods, `pod-${i}`)) };
}
