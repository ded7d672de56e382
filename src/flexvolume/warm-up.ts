import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FlexVolumeDriver } from './driver.js';

const commandMs = 10_000;

/**
 * The build's warm-up (scripts/flexvolume-snapshot-entry.cjs): the single executable starts
 * from a V8 startup snapshot of a process that ran this, so a call finds loaded every module a
 * `mount` or `unmount` imports lazily, initialised whatever these harmless calls set up on first
 * use, and compiled every function they ran (the snapshot keeps that bytecode): `init`, an `unmount` of
 * a directory with nothing published, a `mount` whose options the backend refuses, and
 * commands through execa. All of it in a temp dir; nothing is mounted, and no reply is written.
 */
export async function warmUp(driver: FlexVolumeDriver): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-warm-up-'));
  const saved = { ...process.env };
  try {
    const pod = join(dir, 'pod');
    await mkdir(pod);
    await writeFile(join(dir, 'config.json'), '{}');
    Object.assign(process.env, { SHAREMOUNT_ROOT: join(dir, 'root'), SHAREMOUNT_LOG: join(dir, 'driver.log'), SHAREMOUNT_CONFIG: join(dir, 'config.json') });
    await driver.handle(['init']);
    await driver.handle(['unmount', pod]);
    await driver.handle(['mount', pod, '{"kubernetes.io/readwrite":"rw","kubernetes.io/pod.uid":"0","kubernetes.io/fsType":""}']);
    // Every mount and unmount runs a command through execa, which sets up a good deal on its
    // first run: run one that succeeds and one that fails (this Node itself, so nothing on the
    // host is needed).
    const { run } = await import('../exec.js');
    await run(process.execPath, ['--version'], { timeoutMs: commandMs });
    await run(process.execPath, ['-e', 'process.exit(3)'], { timeoutMs: commandMs }).catch(() => {});
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
    await rm(dir, { recursive: true, force: true });
  }
}
