import { chmod, lstat, mkdir } from 'node:fs/promises';
import { isBrokenMountError } from './broken-mount.js';
import { SharemountError, errnoKind, invalidArgument } from './errors.js';
import { identityOfFd } from './mount-point.js';
import { closePath, directoryFlags, openPath, procPathOf } from './path-descriptor.js';

const maxPathBytes = 4096;
const maxNameBytes = 255;

/**
 * Checks a sub-path lexically and returns it normalised (`''` for the share's root). Refused:
 * absolute paths, `..` anywhere (even when it would stay inside), NUL and control characters,
 * over-long names. What it returns is a plain relative path of real names.
 */
export function checkSubPath(subPath: string | undefined, field = 'subPath'): string {
  if (subPath === undefined || subPath === '' || subPath === '.') return '';
  if (/[\u0000-\u001f\u007f]/.test(subPath)) throw invalidArgument(field, 'contains a NUL or control character');
  if (Buffer.byteLength(subPath) > maxPathBytes) throw invalidArgument(field, `is longer than ${maxPathBytes} bytes`);
  if (subPath.startsWith('/')) throw invalidArgument(field, 'must be relative to the share, not absolute');
  if (!subPath.isWellFormed()) throw invalidArgument(field, 'is not valid Unicode');
  const names = subPath.split('/').filter((name) => name !== '' && name !== '.');
  for (const name of names) {
    if (name === '..') throw invalidArgument(field, 'must not contain ".." (a sub-path cannot leave the share)');
    if (Buffer.byteLength(name) > maxNameBytes) throw invalidArgument(field, `has a name longer than ${maxNameBytes} bytes`);
  }
  return names.join('/');
}

/** A directory inside a share, held open so that nothing can swap it for a symlink under us. */
export interface OpenedSubPath {
  /** The sub-path, relative to the share's root. */
  relative: string;
  /** Its O_PATH descriptor, valid until `close`. */
  fd: number;
  /** A path naming exactly the opened directory, for mount(8) with --no-canonicalize. */
  procPath: string;
  /** Its inode and mount id, from fdinfo, read once however often asked. */
  identity(): { inode: string | undefined; mountId: number };
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create missing directories (inside the share only). */
  create: boolean;
  /** Mode of created directories (applied exactly, whatever the umask). */
  mode: number;
  /** Awaited before the first directory is created: a request refused for another reason creates nothing. */
  beforeCreate?: () => Promise<void>;
}

/**
 * Opens the share's mount point, a directory and never through a symlink, in libuv's threads:
 * on a hung mount the open itself hangs, so callers bound it.
 */
export function openShareRoot(mountPoint: string): Promise<number> {
  return openPath(mountPoint, directoryFlags);
}

/** `openInside` from the share's mount point, named by its path (the library's own). */
export async function openInsideShare(mountPoint: string, relative: string, options: OpenOptions): Promise<OpenedSubPath> {
  return openInside(await openShareRoot(mountPoint), relative, options);
}

/**
 * Walks `relative` from the open directory `root` one name at a time, each name opened relative
 * to the directory before it (through /proc/self/fd) with O_NOFOLLOW: a symlink anywhere on the
 * way is refused, not followed, so no link can lead out of the share and no rename race can
 * either. The result stays open: the bind mount is made from its /proc fd path. Takes `root`
 * over: it is closed, or returned as the result when `relative` is empty. `walked` is the part of
 * the sub-path that `root` already is (for messages and the result's `relative`).
 */
export async function openInside(root: number, relative: string, options: OpenOptions, walked = ''): Promise<OpenedSubPath> {
  let current = root;
  const names = relative === '' ? [] : relative.split('/');
  const prefix = walked === '' ? [] : walked.split('/');
  try {
    for (const [index, name] of names.entries()) {
      const shown = [...prefix, ...names.slice(0, index + 1)].join('/');
      const childPath = `${procPathOf(current)}/${name}`;
      let child: number;
      try {
        child = await openDirectory(childPath, shown);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (!options.create) throw new SharemountError('NOT_FOUND', `subPath: "${shown}" does not exist in the share (set createIfNecessary to create it)`, { field: 'subPath' });
        await options.beforeCreate?.();
        const made = await mkdir(childPath, options.mode).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'EEXIST') return false; // made meanwhile by someone else: theirs, mode and all
            if (isBrokenMountError(e)) throw e; // the caller's bound says BROKEN_MOUNT
            throw new SharemountError(errnoKind(e.code), `subPath: "${shown}" could not be created in the share (${e.code === 'EROFS' ? 'the share is read-only' : e.code})`, { field: 'subPath', cause: e });
          },
        );
        child = await openDirectory(childPath, shown);
        try {
          // Exactly createMode (mkdir's mode passes through the umask), on the directory made here only.
          if (made) await chmod(procPathOf(child), options.mode);
        } catch (chmodError) {
          closePath(child);
          throw chmodError;
        }
      }
      closePath(current);
      current = child;
    }
  } catch (error) {
    closePath(current);
    throw error;
  }
  const fd = current;
  let identity: ReturnType<typeof identityOfFd> | undefined;
  return {
    relative: [...prefix, ...names].join('/'),
    fd,
    procPath: procPathOf(fd, process.pid),
    identity: () => (identity ??= identityOfFd(fd)),
    close: async () => closePath(fd),
  };
}

/** Opens a directory without following a symlink, and says which one a refused name is. */
async function openDirectory(path: string, shown: string): Promise<number> {
  try {
    return await openPath(path, directoryFlags);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
    const isLink = (await lstat(path).catch(() => undefined))?.isSymbolicLink() ?? false;
    throw invalidArgument('subPath', `"${shown}" is ${isLink ? 'a symlink (symlinks inside a share are never followed)' : 'not a directory'}`);
  }
}
