import { fstat, lstatSync, mkdirSync, realpathSync, type BigIntStats } from 'node:fs';
import { basename, dirname, posix } from 'node:path';
import { SharemountError, fromFilesystemError, invalidArgument } from './errors.js';
import { isLocatedWithin, locationOfLocal, locationOfMountRoot, locationShownAt, type FilesystemLocation } from './filesystem-location.js';
import { mountIdOfFd } from './mount-point.js';
import { mountWithId, readMountInfoText } from './mountinfo.js';
import { isInside, placeOfPath, type Place } from './identity.js';
import { closePath, openPath, pathFlags } from './path-descriptor.js';
import { withTimeout } from './timeout.js';

const maxPathBytes = 4096;
const maxNameBytes = 255;

/**
 * Lexical checks of a target path: absolute, already normal (no `.`, `..`, `//`, trailing `/`),
 * no control characters, not the root dir nor inside or above the library's state root.
 */
export function checkTargetShape(target: string, root: string, field = 'target'): string {
  if (typeof target !== 'string') throw invalidArgument(field, 'must be a string');
  if (target === '') throw invalidArgument(field, 'is empty');
  if (/[\u0000-\u001f\u007f]/.test(target)) throw invalidArgument(field, 'contains a NUL or control character');
  if (Buffer.byteLength(target) > maxPathBytes) throw invalidArgument(field, `is longer than ${maxPathBytes} bytes`);
  if (!target.isWellFormed()) throw invalidArgument(field, 'is not valid Unicode');
  if (!target.startsWith('/')) throw invalidArgument(field, 'must be an absolute path');
  if (posix.normalize(target) !== target || (target.length > 1 && target.endsWith('/'))) {
    throw invalidArgument(field, 'must be a normalised path (no ".", "..", "//" or trailing "/")');
  }
  if (target.split('/').some((name) => Buffer.byteLength(name) > maxNameBytes)) throw invalidArgument(field, `has a name longer than ${maxNameBytes} bytes`);
  if (target === '/') throw invalidArgument(field, 'must not be "/"');
  if (isWithin(target, root) || isWithin(root, target)) throw invalidArgument(field, "must not be inside (or above) sharemount's state root");
  return target;
}

/**
 * The state-root check of `checkTargetShape` made by identity (see identity.ts): the target's
 * parent must not be the root or lie inside it, and the target, when it exists, must not be
 * the root or a directory above it, whatever paths lead there (a bind mount of the root's
 * parent elsewhere gives it other spellings). The parent is local (already walked by
 * canonicalTarget). The target may be a mount of a share that hangs (a repeat publish): it is
 * opened in libuv's threads, bounded, and when it is a mount point it is never stat'ed (that
 * would ask the share, and a stat stuck in one of libuv's four threads is one fewer for every
 * other share): the mount table says where its mount's root lies.
 */
export async function checkTargetPlace(target: string, root: Place, fsMs: number, field = 'target'): Promise<void> {
  const parent = placeOfParent(target, root, field);
  if (parent === undefined) return; // nothing is made there; canonicalTarget says so
  const opening = openPath(target, pathFlags);
  let fd: number;
  try {
    fd = await withTimeout(opening, fsMs, `checking ${field}`);
  } catch (error) {
    void opening.then(closePath, () => {});
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const mountId = mountIdOfFd(fd);
    if (mountId !== parent.chain[0]!.mountId) {
      const table = readMountInfoText();
      const mount = mountWithId(table, mountId);
      if (mount !== undefined && rootLiesWithin(table, root, locationOfMountRoot(mount))) throw refusal(field);
      return;
    }
    // A directory of the parent's own filesystem; still in libuv's threads and bounded.
    const statting = new Promise<BigIntStats>((resolve, reject) => fstat(fd, { bigint: true }, (error, stats) => (error ? reject(error) : resolve(stats))));
    const own = await withTimeout(statting, fsMs, `checking ${field}`);
    if (root.chain.some((step) => step.dev === own.dev && step.ino === own.ino)) throw refusal(field);
  } finally {
    closePath(fd);
  }
}

/**
 * `checkTargetPlace` that looks a target up in the mount table first and never opens one that
 * is a mount point (only a plain directory of the parent's filesystem is opened, synchronously):
 * for a shim whose targets may be mounts of a hung share (the CSI shim's target_path, which
 * kubelet publishes again periodically).
 */
export function checkTargetPlaceByTable(target: string, root: Place, field = 'target'): void {
  if (placeOfParent(target, root, field) === undefined) return;
  const table = readMountInfoText();
  const shown = locationShownAt(table, target);
  if (shown !== undefined && rootLiesWithin(table, root, shown)) throw refusal(field);
}

/** The target's parent, placed; refused when it is the root or lies inside it; undefined when missing. */
function placeOfParent(target: string, root: Place, field: string): Place | undefined {
  let parent: Place;
  try {
    parent = placeOfPath(dirname(target), root); // the walk stops where it meets the root's own way up
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (isInside(parent, root)) throw refusal(field);
  return parent;
}

/** Whether the root is the directory at `shown` or lies inside it. */
function rootLiesWithin(table: string, root: Place, shown: FilesystemLocation): boolean {
  const rootLocation = locationOfLocal(table, root.path);
  return rootLocation !== undefined && isLocatedWithin(rootLocation, shown);
}

function refusal(field: string): SharemountError {
  return invalidArgument(field, "must not be inside (or above) sharemount's state root (it is, through another path to it)");
}

export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/*
 * Targets live in the kubelet's (or the CO's) local directories, never inside a share, so the
 * calls below are synchronous: microseconds each, instead of a trip through the thread pool.
 */

/**
 * Makes sure the (canonical) target is a directory, creating it when missing; its parent must
 * exist. A symlink as the target is refused: mount would follow it.
 * @returns whether this call created it.
 */
export function prepareTarget(target: string): { created: boolean } {
  let stats;
  try {
    stats = lstatSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    try {
      mkdirSync(target, 0o750);
    } catch (mkdirError) {
      if ((mkdirError as NodeJS.ErrnoException).code !== 'ENOENT') throw mkdirError;
      throw new SharemountError('NOT_FOUND', `target: parent directory ${dirname(target)} does not exist`, { field: 'target' });
    }
    return { created: true };
  }
  if (stats.isSymbolicLink()) throw invalidArgument('target', 'is a symlink; refusing to mount through it');
  if (!stats.isDirectory()) throw invalidArgument('target', 'exists and is not a directory');
  return { created: false };
}

/**
 * The target with its parent's symlinks resolved (the kernel records real paths in mountinfo,
 * and references must match them); as given when the parent does not exist, which is only good
 * enough for undoing (an unpublish of a target whose pod directory is gone). A call that makes
 * something there asks `parentMustExist`: a parent that does not resolve (a dangling symlink on
 * the way, whose destination could appear later, inside the state root say) is NOT_FOUND, since
 * the checks on the path as given would not be the checks of the path used.
 */
export function canonicalTarget(target: string, { parentMustExist = false, field = 'target' } = {}): string {
  let parent: string;
  try {
    parent = realpathSync.native(dirname(target));
  } catch (error) {
    if (!parentMustExist) return target;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SharemountError('NOT_FOUND', `${field}: parent directory ${dirname(target)} does not exist`, { field });
    throw fromFilesystemError(error, [[dirname(target), field]]); // a symlink loop, a file on the way...
  }
  return parent === '/' ? `/${basename(target)}` : `${parent}/${basename(target)}`;
}
