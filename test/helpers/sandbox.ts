import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { readMountInfo, type MountInfoEntry } from '../../src/mountinfo.js';
import { stopProcesses } from './processes.js';
import { skipWhenMissing } from './ci.js';
import type { ChildProcess } from 'node:child_process';

/**
 * A temp dir for one integration test file:
 *   <dir>/src/      a bind source with files (`seedSourceTree`)
 *   <dir>/root/     the MountManager's state root
 *   <dir>/pods/     where publications go (a kubelet's pod dirs)
 * `cleanup` stops the processes the test registered, lazily unmounts everything below `dir`
 * (deepest first, by path), and removes the tree only once nothing is mounted in it any more,
 * so the removal can never reach through a mount into anything else.
 */
export interface Sandbox {
  dir: string;
  source: string;
  root: string;
  pods: string;
  /** Processes (workers, FUSE daemons) to kill on cleanup, by PID. */
  track(child: ChildProcess): ChildProcess;
  cleanup(): Promise<void>;
}

/** Makes a fresh sandbox under the system temp dir (see `Sandbox`). */
export async function createSandbox(prefix = 'sharemount-core-'): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const sandbox = { dir, source: join(dir, 'src'), root: join(dir, 'root'), pods: join(dir, 'pods') };
  await mkdir(sandbox.source);
  await mkdir(sandbox.pods);
  const children = new Set<ChildProcess>();
  return {
    ...sandbox,
    track(child) {
      children.add(child);
      return child;
    },
    async cleanup() {
      await stopProcesses([...children]);
      await unmountEverythingUnder(dir);
      const left = await mountsUnder(dir);
      if (left.length > 0) throw new Error(`cleanup: still mounted under ${dir}: ${left.map((m) => m.mountPoint).join(', ')}`);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Mounts at or below `dir` in this mount namespace, in the order they were made. */
export async function mountsUnder(dir: string): Promise<MountInfoEntry[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return (await readMountInfo()).filter((entry) => entry.mountPoint === dir || entry.mountPoint.startsWith(prefix));
}

/** `umount --lazy` of every mount below `dir`, deepest first, by path; repeats for stacked mounts. */
export async function unmountEverythingUnder(dir: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const left = await mountsUnder(dir);
    if (left.length === 0) return;
    for (const entry of left.reverse()) {
      await execa('umount', ['--lazy', '--no-canonicalize', '--', entry.mountPoint], { reject: false, timeout: 10_000 });
    }
  }
}

/**
 * Fills `source` with `dirs` sub-directories `d000`... each holding a small file, plus a few
 * files of other kinds and modes at the top, so the fingerprint has something to notice.
 */
export async function seedSourceTree(source: string, dirs: number): Promise<string[]> {
  const names = Array.from({ length: dirs }, (_, i) => `d${String(i).padStart(3, '0')}`);
  for (const name of names) {
    await mkdir(join(source, name));
    await writeFile(join(source, name, 'data.txt'), `contents of ${name}\n`);
  }
  await writeFile(join(source, 'top.bin'), Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251)));
  await writeFile(join(source, 'secret.key'), 'do not touch\n');
  await chmod(join(source, 'secret.key'), 0o600);
  return names;
}

/** Names directly inside `dir` (sorted), or [] when it does not exist. */
export async function entriesOf(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** Whether integration tests can run here; a missing prerequisite is a failure on CI (see `requirePrerequisites`). */
export function missingPrerequisite(extra: Array<{ what: string; ok: () => boolean }> = []): string | undefined {
  if (process.getuid?.() !== 0) return 'root (real mounts)';
  for (const check of extra) if (!check.ok()) return check.what;
  return undefined;
}

/**
 * The suite's gate: on CI a missing prerequisite throws (a failure, never a silent skip); off CI
 * it returns true after saying what is missing, for `describe.skipIf`.
 */
export function skipUnlessReady(extra: Array<{ what: string; ok: () => boolean }> = []): boolean {
  return skipWhenMissing(missingPrerequisite(extra), 'these integration tests');
}
