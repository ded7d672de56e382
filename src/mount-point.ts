import { closeSync, constants, openSync, readSync } from 'node:fs';
import { dirname } from 'node:path';
import { O_PATH, closePath, openLocalPath, openPath, pathFlags } from './path-descriptor.js';

export { O_PATH } from './path-descriptor.js';

/**
 * The kernel's id of the mount that `path` lies on, read from /proc/self/fdinfo. Unlike
 * comparing `st_dev` with the parent's, this tells a bind mount of the same filesystem apart
 * from a plain directory, and it costs the same whatever the size of the mount table. A final
 * symlink is not followed (its own mount is meant), unless `follow` (a /proc/<pid>/fd path,
 * whose link names the directory wanted).
 */
export async function mountIdOf(path: string, { follow = false } = {}): Promise<number> {
  const fd = await openPath(path, follow ? O_PATH : pathFlags);
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

// fdinfo of an O_PATH descriptor is a few short lines (pos, flags, mnt_id, ino); mnt_id comes third.
const fdinfoBuffer = Buffer.alloc(512);

export function mountIdOfFd(fd: number): number {
  // procfs answers from memory and never blocks: a synchronous read skips the thread pool, and
  // one read into a reused buffer skips readFileSync's fstat and second read.
  const info = openSync(`/proc/self/fdinfo/${fd}`, constants.O_RDONLY);
  let text;
  try {
    text = fdinfoBuffer.toString('latin1', 0, readSync(info, fdinfoBuffer, 0, fdinfoBuffer.length, 0));
  } finally {
    closeSync(info);
  }
  const match = /^mnt_id:\s*(\d+)$/m.exec(text);
  if (!match) throw new Error(`no mnt_id in /proc/self/fdinfo/${fd}`);
  return Number(match[1]);
}

/** Whether something is mounted exactly at `path` (a symlink is never a mount point). */
export async function isMountPoint(path: string): Promise<boolean> {
  const [own, parent] = await Promise.all([mountIdOf(path), mountIdOf(dirname(path))]);
  return own !== parent;
}
