import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unmount } from '../../src/mount-command.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { isWithin } from '../../src/target.js';

/** A temp directory that holds everything a benchmark creates, removed with whatever is mounted in it. */
export interface Workspace {
  base: string;
  path(...parts: string[]): string;
  /** Unmounts what is still mounted inside, then removes the directory. Safe to call twice. */
  dispose(): Promise<void>;
}

export async function createWorkspace(prefix: string): Promise<Workspace> {
  const base = await mkdtemp(join(tmpdir(), prefix));
  return {
    base,
    path: (...parts) => join(base, ...parts),
    dispose: () => disposeWorkspace(base),
  };
}

async function disposeWorkspace(base: string): Promise<void> {
  // Outermost mounts first, lazily: a lazy unmount detaches the whole tree beneath it at once.
  for (let round = 0; round < 10; round++) {
    const inside = (await readMountInfo()).filter((entry) => isWithin(entry.mountPoint, base));
    if (inside.length === 0) break;
    const outermost = inside.filter((entry) => !inside.some((other) => other !== entry && other.mountPoint !== entry.mountPoint && isWithin(entry.mountPoint, other.mountPoint)));
    for (const entry of [...new Set(outermost.map((e) => e.mountPoint))]) await unmount(entry, 30_000).catch(() => {});
  }
  const still = (await readMountInfo()).filter((entry) => isWithin(entry.mountPoint, base));
  // Never a recursive delete while anything is mounted inside: it would reach through the mount.
  if (still.length > 0) throw new Error(`${still.length} mounts remain under ${base} (first: ${still[0]!.mountPoint}); left in place`);
  await rm(base, { recursive: true, force: true });
}
