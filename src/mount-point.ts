import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { closePath, openLocalPath, openPath } from './path-descriptor.js';

export { O_PATH } from './path-descriptor.js';

/**
 * The kernel's id of the mount that `path` lies on, read from /proc/self/fdinfo. Unlike
 * comparing `st_dev` with the parent's, this tells a bind mount of the same filesystem apart
 * from a plain directory, and it costs the same whatever the size of the mount table.
 */
export async function mountIdOf(path: string): Promise<number> {
  const fd = await openPath(path);
  try {
    return mountIdOfFd(fd);
  } finally {
    closePath(fd);
  }
}

/** `mountIdOf` made synchronously, for a path whose walk cannot hang (see openLocalPath). */
export function localMountIdOf(path: string): number {
  const fd = openLocalPath(path);
  try {
    return mountIdOfFd(fd);
  } finally {
    closePath(fd);
  }
}

export function mountIdOfFd(fd: number): number {
  // procfs answers from memory and never blocks: a synchronous read skips the thread pool.
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^mnt_id:\s*(\d+)$/m.exec(info);
  if (!match) throw new Error(`no mnt_id in /proc/self/fdinfo/${fd}`);
  return Number(match[1]);
}

/**
 * Whether something is mounted exactly at `path` (a symlink is never a mount point). A caller
 * that knows the mount id of the parent directory passes it, and only `path` is opened.
 */
export async function isMountPoint(path: string, parentMountId?: number): Promise<boolean> {
  if (parentMountId !== undefined) return (await mountIdOf(path)) !== parentMountId;
  const [own, parent] = await Promise.all([mountIdOf(path), mountIdOf(dirname(path))]);
  return own !== parent;
}
