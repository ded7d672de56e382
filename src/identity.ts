import { constants, fstat, fstatSync, readlinkSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import { identityOfFd } from './mount-point.js';
import { mountWithId, readMountInfoText } from './mountinfo.js';
import { O_PATH, closePath, openLocalPath, openPath, procPathOf } from './path-descriptor.js';

/**
 * Whether one directory lies inside another, judged by what the kernel says they are, never by
 * their path strings: a bind mount shows one directory at many paths (`/mnt/alias/sharemount`
 * is `/var/lib/sharemount` when `/mnt/alias` is a bind mount of `/var/lib`), and a path string
 * compares only the spelling.
 *
 * A directory is placed by the chain of directories above it as the kernel walks `..` from its
 * open descriptor (`/proc/self/fd/<n>/..`), each with its device, inode and mount id. `inner`
 * lies inside `outer` when:
 *  - a directory of inner's chain is outer itself (same device and inode), or
 *  - inner's chain passes through a mount whose root directory lies, within its filesystem,
 *    inside outer: `..` at a mount's root climbs to where the mount is attached, not to the
 *    directory's real parent, so a bind mount of a directory inside outer, attached elsewhere,
 *    is caught only by the mount table's record of that mount's root (looked up only then).
 */
export interface Place {
  /** The directory (or file) itself, then each directory above it, up to `/`. */
  chain: readonly Step[];
  /** Its path in this mount namespace, as the kernel names the open descriptor. */
  path: string;
}

export interface Step {
  dev: bigint;
  ino: bigint;
  mountId: number;
  isDirectory: boolean;
}

// A path has at most 2048 names (4096 bytes); more steps would be a loop.
const maxSteps = 2048;

/**
 * Places the open descriptor (a directory, or a file: then the directory it is named in, and up).
 * With `known`, a place already walked (the state root's), the walk stops where it meets one of
 * `known`'s directories (same device, inode and mount: from there `..` leads the same way) and
 * takes the rest of the chain from it.
 */
export function placeOfFd(fd: number, known?: Place): Place {
  const path = readlinkSync(procPathOf(fd));
  const first = stepOf(fd);
  if (!first.isDirectory) {
    const parent = openLocalPath(posix.dirname(path), O_PATH | constants.O_DIRECTORY);
    try {
      return { chain: [first, ...placeOfFd(parent, known).chain], path };
    } finally {
      closePath(parent);
    }
  }
  const joined = (step: Step) => known?.chain.findIndex((other) => sameStep(other, step)) ?? -1;
  const at = joined(first);
  if (at !== -1) return { chain: known!.chain.slice(at), path };
  const chain: Step[] = [first];
  let current = fd;
  try {
    for (let i = 0; i < maxSteps; i++) {
      const parent = openLocalPath(`${procPathOf(current)}/..`, O_PATH | constants.O_DIRECTORY);
      if (current !== fd) closePath(current);
      current = parent;
      const step = stepOf(parent);
      if (sameStep(step, chain[chain.length - 1]!)) break; // `/`
      const meets = joined(step);
      if (meets !== -1) {
        chain.push(...known!.chain.slice(meets));
        break;
      }
      chain.push(step);
    }
  } finally {
    if (current !== fd) closePath(current);
  }
  return { chain, path };
}

function sameStep(a: Step, b: Step): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mountId === b.mountId;
}

/**
 * `placeOfFd` in libuv's threads, each step bounded by `bound`: for a directory on a filesystem
 * that may hang (a host directory on NFS), whose `..` the kernel may revalidate.
 */
export async function placeOfFdBounded(fd: number, bound: <T>(work: Promise<T>) => Promise<T>): Promise<Place> {
  const chain: Step[] = [await stepOfBounded(fd, bound)];
  let current = fd;
  try {
    for (let i = 0; i < maxSteps; i++) {
      const opening = openPath(`${procPathOf(current)}/..`, O_PATH | constants.O_DIRECTORY);
      const parent = await bound(opening).catch((error: unknown) => {
        void opening.then(closePath, () => {});
        throw error;
      });
      if (current !== fd) closePath(current);
      current = parent;
      const step = await stepOfBounded(parent, bound);
      if (sameStep(step, chain[chain.length - 1]!)) break; // `/`
      chain.push(step);
    }
  } finally {
    if (current !== fd) closePath(current);
  }
  return { chain, path: readlinkSync(procPathOf(fd)) };
}

/**
 * Places the directory `path` names (symlinks on the way followed) from libuv's threads, each
 * step bounded: for a path that may be a mount point of a share. Undefined when there is no
 * directory there (ENOENT, ENOTDIR); every other failure (TIMEOUT, BROKEN_MOUNT) is thrown.
 */
export async function placeOfDirectoryBounded(path: string, bound: <T>(work: Promise<T>) => Promise<T>): Promise<Place | undefined> {
  const opening = openPath(path, O_PATH | constants.O_DIRECTORY);
  let fd: number;
  try {
    fd = await bound(opening);
  } catch (error) {
    void opening.then(closePath, () => {}); // a hung open's descriptor, whenever it comes
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  try {
    return await placeOfFdBounded(fd, bound);
  } finally {
    closePath(fd);
  }
}

/** Places what `path` names (symlinks on the way followed), synchronously: for local paths only. `known` as for placeOfFd. */
export function placeOfPath(path: string, known?: Place): Place {
  const fd = openLocalPath(path, O_PATH);
  try {
    return placeOfFd(fd, known);
  } finally {
    closePath(fd);
  }
}

/**
 * Places the longest existing part of `path` (a path about to be made: a root, a log file),
 * symlinks followed; undefined when not even `/` can be opened. What is made there later lies
 * inside wherever that part lies.
 */
export function placeOfExisting(path: string): Place | undefined {
  for (let at = posix.resolve(path); ; at = posix.dirname(at)) {
    try {
      return placeOfPath(at);
    } catch {
      if (at === '/') return undefined;
    }
  }
}

/** `placeOfPath`, or undefined when the path cannot be opened (it does not exist). */
export function placeIfPresent(path: string): Place | undefined {
  try {
    return placeOfPath(path);
  } catch {
    return undefined;
  }
}

/** Whether `inner` is `outer` or lies inside it (see `Place`). */
export function isInside(inner: Place, outer: Place): boolean {
  const self = outer.chain[0]!;
  if (inner.chain.some((step) => step.dev === self.dev && step.ino === self.ino)) return true;
  // Each mount the chain leaves through its root, on outer's filesystem and not outer's own mount
  // (within that one the walk up meets outer, if anywhere): where is that root, really?
  const exits = inner.chain.filter((step, i) => step.dev === self.dev && step.mountId !== self.mountId && inner.chain[i + 1]?.mountId !== step.mountId);
  if (exits.length === 0) return false;
  const table = readMountInfoText();
  const outerMount = mountWithId(table, self.mountId);
  if (outerMount === undefined) return false;
  const relative = posix.relative(outerMount.mountPoint, outer.path);
  if (relative === '..' || relative.startsWith('../') || posix.isAbsolute(relative)) return false; // not reachable here: nothing is inside it here either
  const outerInFilesystem = posix.join(outerMount.root, relative);
  return exits.some((step) => {
    const mount = mountWithId(table, step.mountId);
    return mount !== undefined && mount.device === outerMount.device && isWithinPath(mount.root, outerInFilesystem);
  });
}

/** Whether either lies inside the other (or they are one). */
export function overlaps(a: Place, b: Place): boolean {
  return isInside(a, b) || isInside(b, a);
}

function isWithinPath(path: string, dir: string): boolean {
  return path === dir || dir === '/' || path.startsWith(`${dir}/`);
}

function stepOf(fd: number): Step {
  return stepFrom(fd, fstatSync(fd, { bigint: true }));
}

/**
 * `stepOf` with its stat in libuv's threads, bounded: a stat on a hung FUSE or NFS directory
 * never answers, and a synchronous one would stop this process's event loop for good.
 */
async function stepOfBounded(fd: number, bound: <T>(work: Promise<T>) => Promise<T>): Promise<Step> {
  const stats = await bound(
    new Promise<BigIntStats>((resolve, reject) => fstat(fd, { bigint: true }, (error, result) => (error ? reject(error) : resolve(result)))),
  );
  return stepFrom(fd, stats);
}

function stepFrom(fd: number, stats: BigIntStats): Step {
  // The mount id comes from /proc's fdinfo, which never asks the filesystem.
  return { dev: stats.dev, ino: stats.ino, mountId: identityOfFd(fd).mountId, isDirectory: stats.isDirectory() };
}
