import { chmod, lstat, mkdir, open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { SharemountError, invalidArgument } from './errors.js';
import { O_PATH } from './mount-point.js';

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
  /** A path naming exactly the opened directory, for mount(8) with --no-canonicalize. */
  procPath: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create missing directories (inside the share only). */
  create: boolean;
  /** Mode of created directories (applied exactly, whatever the umask). */
  mode: number;
}

/**
 * Walks `relative` from the share's mount point one name at a time, each name opened relative to
 * the directory before it (through /proc/self/fd) with O_NOFOLLOW: a symlink anywhere on the way
 * is refused, not followed, so no link can lead out of the share and no rename race can either.
 * The result stays open: the bind mount is made from its /proc fd path. The first name is opened
 * under the mount point's own path: that path is the library's (the state root, then the mount's
 * root), so it holds no link to follow.
 */
export async function openInsideShare(mountPoint: string, relative: string, options: OpenOptions): Promise<OpenedSubPath> {
  let current: FileHandle | undefined; // undefined: still at the mount point, named by its path
  try {
    const names = relative === '' ? [] : relative.split('/');
    for (const [index, name] of names.entries()) {
      const shown = names.slice(0, index + 1).join('/');
      const childPath = `${current ? `/proc/self/fd/${current.fd}` : mountPoint}/${name}`;
      let child: FileHandle;
      try {
        child = await openDirectory(childPath, shown);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (!options.create) throw new SharemountError('NOT_FOUND', `subPath: "${shown}" does not exist in the share (set createIfNecessary to create it)`, { field: 'subPath' });
        await mkdir(childPath, options.mode).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        child = await openDirectory(childPath, shown);
        await chmod(`/proc/self/fd/${child.fd}`, options.mode);
      }
      void current?.close().catch(() => {}); // an O_PATH descriptor: nothing to wait for
      current = child;
    }
    current ??= await openPath(mountPoint);
  } catch (error) {
    await current?.close();
    throw error;
  }
  const handle = current;
  return {
    relative,
    procPath: `/proc/${process.pid}/fd/${handle.fd}`,
    close: () => handle.close(),
  };
}

function openPath(path: string): Promise<FileHandle> {
  return open(path, O_PATH | constants.O_NOFOLLOW);
}

/**
 * Opens a directory without following a symlink: O_DIRECTORY|O_NOFOLLOW refuses both a
 * symlink and a non-directory in the same call, with no separate stat.
 */
async function openDirectory(path: string, shown: string): Promise<FileHandle> {
  try {
    return await open(path, O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
    const isLink = (await lstat(path).catch(() => undefined))?.isSymbolicLink() ?? false;
    throw invalidArgument('subPath', `"${shown}" is ${isLink ? 'a symlink (symlinks inside a share are never followed)' : 'not a directory'}`);
  }
}
