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
  return (await identityOfPath(path, follow ? O_PATH : pathFlags)).mountId;
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

// fdinfo of an O_PATH descriptor is a few short lines (pos, flags, mnt_id, ino).
const fdinfoBuffer = Buffer.alloc(512);

function fdInfoOf(fd: number): string {
  // procfs answers from memory and never blocks: a synchronous read skips the thread pool, and
  // one read into a reused buffer skips readFileSync's fstat and second read.
  const info = openSync(`/proc/self/fdinfo/${fd}`, constants.O_RDONLY);
  try {
    return fdinfoBuffer.toString('latin1', 0, readSync(info, fdinfoBuffer, 0, fdinfoBuffer.length, 0));
  } finally {
    closeSync(info);
  }
}

export function mountIdOfFd(fd: number): number {
  return identityOfFd(fd).mountId;
}

/**
 * The inode number of the open file, in decimal (NFS file ids use all 64 bits, more than a
 * number holds), and the id of the mount it lies on, read from fdinfo without asking the
 * filesystem; no inode on kernels before 5.14, which do not show it.
 */
export function identityOfFd(fd: number): { inode: string | undefined; mountId: number } {
  const info = fdInfoOf(fd);
  const mountId = /^mnt_id:\s*(\d+)$/m.exec(info)?.[1];
  if (mountId === undefined) throw new Error(`no mnt_id in /proc/self/fdinfo/${fd}`);
  if (process.env[withoutFdinfoInode] === '1') return { inode: undefined, mountId: Number(mountId) };
  return { inode: /^ino:\s*(\d+)$/m.exec(info)?.[1], mountId: Number(mountId) };
}

/**
 * TEST SEAM, never for production: with this environment variable set to `1`, `identityOfFd`
 * reports no inode, as on kernels before 5.14 (fdinfo has no `ino:` line there), so that the
 * tests can prove what such a kernel does on a machine with a newer one (docs/testing.md).
 */
export const withoutFdinfoInode = 'SHAREMOUNT_TEST_WITHOUT_FDINFO_INODE';

/**
 * `identityOfFd` of what `path` names, a final symlink not followed: on a mount point, the
 * root of that mount. In libuv's threads: a mount point may hang (callers bound it).
 */
export function identityAt(path: string): Promise<{ inode: string | undefined; mountId: number }> {
  return identityOfPath(path, pathFlags);
}

async function identityOfPath(path: string, flags: number): Promise<{ inode: string | undefined; mountId: number }> {
  const fd = await openPath(path, flags);
  try {
    return identityOfFd(fd);
  } finally {
    closePath(fd);
  }
}

/** Whether something is mounted exactly at `path` (a symlink is never a mount point). */
export async function isMountPoint(path: string): Promise<boolean> {
  const [own, parent] = await Promise.all([mountIdOf(path), mountIdOf(dirname(path))]);
  return own !== parent;
}
