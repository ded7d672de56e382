import { open } from 'node:fs/promises';
import { constants, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

// O_PATH opens a name without opening the file itself (no FUSE open, no read), and works on
// directories, symlinks (with O_NOFOLLOW) and FIFOs. NFS may still revalidate a mount's root on
// the way in, so calls on paths that may be mount points are bounded by their callers.
export const O_PATH = 0o10000000;

/**
 * The kernel's id of the mount that `path` lies on, read from /proc/self/fdinfo. Unlike
 * comparing `st_dev` with the parent's, this tells a bind mount of the same filesystem apart
 * from a plain directory, and it costs the same whatever the size of the mount table.
 */
export async function mountIdOf(path: string): Promise<number> {
  const handle = await open(path, O_PATH | constants.O_NOFOLLOW);
  try {
    return await mountIdOfFd(handle.fd);
  } finally {
    void handle.close().catch(() => {}); // closing an O_PATH descriptor has nothing to wait for
  }
}

export async function mountIdOfFd(fd: number): Promise<number> {
  // procfs answers from memory and never blocks: a synchronous read skips the thread pool.
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const match = /^mnt_id:\s*(\d+)$/m.exec(info);
  if (!match) throw new Error(`no mnt_id in /proc/self/fdinfo/${fd}`);
  return Number(match[1]);
}

/** Whether something is mounted exactly at `path` (a symlink is never a mount point). */
export async function isMountPoint(path: string): Promise<boolean> {
  const [own, parent] = await Promise.all([mountIdOf(path), mountIdOf(dirname(path))]);
  return own !== parent;
}
