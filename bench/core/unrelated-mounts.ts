import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/exec.js';
import { unmount } from '../../src/mount-command.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { isWithin } from '../../src/target.js';

const seedMounts = 49;
const copies = 99;
const timeoutMs = 30_000;

/** How many mounts `addUnrelatedMounts` makes: the tmpfs and 4,999 bind mounts inside it. */
export const unrelatedMountCount = 1 + seedMounts + copies * (1 + seedMounts);

/**
 * Fills the mount table with 5,000 mounts that have nothing to do with sharemount: a tmpfs at
 * `dir` holding 49 directories each bind-mounted onto itself, then 99 recursive bind copies of
 * that tree (each copies 50 mounts in one call). About 150 mount(8) runs instead of 5,000 (which
 * take 24 s here, as each one is slower with a longer table). Returns a function that removes
 * them all with one lazy unmount of the tmpfs (a recursive `umount -R` of 5,000 takes 70 s).
 */
export async function addUnrelatedMounts(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir);
  const remove = async () => {
    await run('umount', ['--lazy', '--no-canonicalize', '--', dir], { timeoutMs }).catch(() => {});
  };
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', '--', 'bench-unrelated', dir], { timeoutMs });
    const seed = join(dir, 'seed');
    await mkdir(seed);
    for (let i = 0; i < seedMounts; i++) {
      const path = join(seed, `m${i}`);
      await mkdir(path);
      await run('mount', ['--bind', '--no-canonicalize', '--', path, path], { timeoutMs });
    }
    for (let i = 1; i <= copies; i++) {
      const copy = join(dir, `copy${i}`);
      await mkdir(copy);
      await run('mount', ['--rbind', '--no-canonicalize', '--', seed, copy], { timeoutMs });
    }
    const made = (await readMountInfo()).filter((entry) => isWithin(entry.mountPoint, dir)).length;
    if (made !== unrelatedMountCount) throw new Error(`expected ${unrelatedMountCount} unrelated mounts, found ${made}`);
  } catch (error) {
    await remove();
    throw error;
  }
  return async () => {
    await remove();
    if ((await readMountInfo()).some((entry) => isWithin(entry.mountPoint, dir))) await unmount(dir, timeoutMs);
  };
}
