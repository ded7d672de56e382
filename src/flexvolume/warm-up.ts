import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerCall } from './driver.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';

const commandMs = 10_000;

/**
 * The build's warm-up (scripts/flexvolume-code-cache.cjs): the bundle's code cache is taken
 * after these harmless calls ran, so it holds the bytecode of every function they ran, and a
 * call answered in its own process compiles only the rest: `init`, an `unmount` of a directory
 * with nothing published, a `mount` whose options the backend refuses, and commands through
 * execa. All of it in a temp dir; nothing is mounted, no reply is written, the process
 * environment is left alone.
 */
export async function warmUp(driver: FlexVolumeDriverOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-warm-up-'));
  try {
    const pod = join(dir, 'pod');
    await mkdir(pod);
    await writeFile(join(dir, 'config.json'), '{}');
    const env = { PATH: process.env.PATH, SHAREMOUNT_ROOT: join(dir, 'root'), SHAREMOUNT_LOG: join(dir, 'driver.log'), SHAREMOUNT_CONFIG: join(dir, 'config.json') };
    const calls = [['init'], ['unmount', pod], ['mount', pod, '{"kubernetes.io/readwrite":"rw","kubernetes.io/pod.uid":"0","kubernetes.io/fsType":""}']];
    for (const argv of calls) await answerCall({ ...driver, env, argv }, argv, { executable: undefined, onLogger: (logger) => void logger.flush() });
    // Every mount and unmount runs a command through execa: one that succeeds and one that fails
    // (this Node itself, so nothing on the build machine is needed).
    const { run } = await import('../exec.js');
    await run(process.execPath, ['--version'], { timeoutMs: commandMs });
    await run(process.execPath, ['-e', 'process.exit(3)'], { timeoutMs: commandMs }).catch(() => {});
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
