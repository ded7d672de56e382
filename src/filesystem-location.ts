import { readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { mountIdOfFd } from './mount-point.js';
import { mountAt, mountWithId, type MountInfoEntry } from './mountinfo.js';
import { O_PATH, closePath, openLocalPath, procPathOf } from './path-descriptor.js';

/**
 * Where a directory lies within its filesystem: the filesystem's device and the directory's
 * path from the filesystem's own root, as the mount table gives them. Every path that leads to
 * a directory (through any bind mount of it or of a directory above it) gives the same
 * location, so one directory lies inside another exactly when their locations say so. Read from
 * the mount table rather than by stat'ing the directory, this never asks a filesystem that may
 * hang: a mount point's location is its mount's record alone.
 */
export interface FilesystemLocation {
  device: string;
  path: string;
}

/**
 * The location of a local directory (symlinks on the way followed): its own mount, from its
 * descriptor's fdinfo, and its path within that mount, from the kernel's name for the
 * descriptor. Synchronous: for a directory whose walk cannot hang. Throws ENOENT when missing.
 */
export function locationOfLocal(table: string, path: string): FilesystemLocation | undefined {
  const fd = openLocalPath(path, O_PATH);
  try {
    const mount = mountWithId(table, mountIdOfFd(fd));
    return mount && locationIn(mount, readlinkSync(procPathOf(fd)));
  } finally {
    closePath(fd);
  }
}

/**
 * The location of what `path` shows: the root of the mount on top there, without asking its
 * filesystem anything (a share that may hang); a local directory's own location when nothing is
 * mounted there; undefined when there is nothing to locate (missing, or a symlink loop).
 */
export function locationShownAt(table: string, path: string): FilesystemLocation | undefined {
  const top = mountAt(table, path);
  if (top !== undefined) return locationOfMountRoot(top);
  try {
    return locationOfLocal(table, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw error;
  }
}

/** The location of a mount's root directory: its record alone. */
export function locationOfMountRoot(mount: MountInfoEntry): FilesystemLocation {
  // A lookup that met a dead mount may have unhashed its root: the table then adds `//deleted`.
  return { device: mount.device, path: mount.root.replace(/\/\/deleted$/, '') };
}

/** Whether `inner` is `outer` or lies inside it. */
export function isLocatedWithin(inner: FilesystemLocation, outer: FilesystemLocation): boolean {
  if (inner.device !== outer.device) return false;
  return inner.path === outer.path || outer.path === '/' || inner.path.startsWith(`${outer.path}/`);
}

function locationIn(mount: MountInfoEntry, path: string): FilesystemLocation | undefined {
  const relative = posix.relative(mount.mountPoint, path);
  if (relative === '..' || relative.startsWith('../') || posix.isAbsolute(relative)) return undefined; // not reachable from here
  return { device: mount.device, path: posix.join(mount.root, relative) };
}
