import { closeSync, constants, open, openSync } from 'node:fs';
import { promisify } from 'node:util';

// O_PATH opens a name without opening the file itself (no FUSE open, no read), and works on
// directories, symlinks (with O_NOFOLLOW) and FIFOs. NFS may still revalidate a mount's root on
// the way in, so a path that may be a mount point is opened in libuv's threads and bounded by
// the caller.
export const O_PATH = 0o10000000;

/** O_PATH without following a final symlink: a link is opened as itself. */
export const pathFlags = O_PATH | constants.O_NOFOLLOW;
/** A directory, never through a symlink: a link or a non-directory fails (ELOOP, ENOTDIR) in the same call. */
export const directoryFlags = O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY;

const openAsync = promisify(open);

/*
 * Plain descriptors rather than FileHandles: a publication opens several, and a FileHandle costs
 * a GC-tracked object and a thread-pool trip to close. Closing an O_PATH descriptor never waits
 * on the filesystem (nothing was opened for I/O), so it is done synchronously.
 */

/** Opens `path` in libuv's threads (the path may be a mount point that hangs). */
export function openPath(path: string, flags: number = pathFlags): Promise<number> {
  return openAsync(path, flags);
}

/**
 * Opens `path` synchronously: only for paths whose walk cannot hang, the state root's own
 * directories or a directory already walked synchronously.
 */
export function openLocalPath(path: string, flags: number = pathFlags): number {
  return openSync(path, flags);
}

export function closePath(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF: closed already; nothing else can fail for an O_PATH descriptor
  }
}

/** The /proc path naming exactly the open file, whatever its name points to now. */
export function procPathOf(fd: number, pid: number | 'self' = 'self'): string {
  return `/proc/${pid}/fd/${fd}`;
}
