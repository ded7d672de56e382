import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Sandbox } from './sandbox.js';

const sourceFile = fileURLToPath(new URL('../fixtures/estale-fuse.c', import.meta.url));

/** Whether the ESTALE FUSE daemon (test/fixtures/estale-fuse.c) can be built and mounted here. */
export function estaleFuseAvailable(): boolean {
  return existsSync('/dev/fuse') && existsSync('/usr/include/linux/fuse.h') && ['/usr/bin/gcc', '/usr/bin/cc'].some((path) => existsSync(path));
}

/** A mount of the ESTALE daemon, which the test turns stale with `goStale`. */
export interface EstaleMount {
  mountPoint: string;
  daemon: ChildProcess;
  /** From now on every request to the mount is answered ESTALE. */
  goStale(): void;
}

/**
 * Builds the daemon into the sandbox (once per sandbox) and mounts it at `mountPoint` with
 * `dirs` directories d000...; the daemon is tracked by the sandbox, which kills it on cleanup.
 */
export async function startEstaleFuse(sandbox: Sandbox, mountPoint: string, dirs: number): Promise<EstaleMount> {
  const binary = join(sandbox.dir, 'estale-fuse');
  if (!existsSync(binary)) await execa('gcc', ['-O1', '-Wall', '-o', binary, sourceFile]);
  await mkdir(mountPoint, { recursive: true });
  const daemon = sandbox.track(spawn(binary, [mountPoint, String(dirs)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    daemon.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('ready\n')) resolve();
    });
    daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    daemon.once('exit', (code) => reject(new Error(`estale-fuse exited (${code}) before it was ready: ${output}`)));
  });
  return { mountPoint, daemon, goStale: () => daemon.kill('SIGUSR1') };
}
