import { lstat, mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, posix } from 'node:path';
import { SharemountError, invalidArgument } from './errors.js';

const maxPathBytes = 4096;

/**
 * Lexical checks of a target path: absolute, already normal (no `.`, `..`, `//`, trailing `/`),
 * no control characters, not the root dir nor inside or above the library's state root.
 */
export function checkTargetShape(target: string, root: string, field = 'target'): string {
  if (target === '') throw invalidArgument(field, 'is empty');
  if (/[\u0000-\u001f\u007f]/.test(target)) throw invalidArgument(field, 'contains a NUL or control character');
  if (Buffer.byteLength(target) > maxPathBytes) throw invalidArgument(field, `is longer than ${maxPathBytes} bytes`);
  if (!target.isWellFormed()) throw invalidArgument(field, 'is not valid Unicode');
  if (!target.startsWith('/')) throw invalidArgument(field, 'must be an absolute path');
  if (posix.normalize(target) !== target || (target.length > 1 && target.endsWith('/'))) {
    throw invalidArgument(field, 'must be a normalised path (no ".", "..", "//" or trailing "/")');
  }
  if (target === '/') throw invalidArgument(field, 'must not be "/"');
  if (isWithin(target, root) || isWithin(root, target)) throw invalidArgument(field, "must not be inside (or above) sharemount's state root");
  return target;
}

export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * Resolves symlinks in the target's parent (the kernel records the real path in mountinfo, and
 * the reference must match it) and makes sure the target itself is a directory, creating it
 * when missing. Its parent must exist. A symlink as the target is refused: mount would follow it.
 * @returns the real target path and whether this call created it.
 */
export async function prepareTarget(target: string, root: string): Promise<{ target: string; created: boolean }> {
  let parent: string;
  try {
    parent = await realpath(dirname(target));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SharemountError('NOT_FOUND', `target: parent directory ${dirname(target)} does not exist`, { field: 'target' });
    throw error;
  }
  const real = checkTargetShape(parent === '/' ? `/${basename(target)}` : `${parent}/${basename(target)}`, root);
  try {
    const stats = await lstat(real);
    if (stats.isSymbolicLink()) throw invalidArgument('target', 'is a symlink; refusing to mount through it');
    if (!stats.isDirectory()) throw invalidArgument('target', 'exists and is not a directory');
    return { target: real, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(real, 0o750);
    return { target: real, created: true };
  }
}

/** Canonical form of a target for lookups: the parent's symlinks resolved when it exists. */
export async function canonicalTarget(target: string): Promise<string> {
  try {
    const parent = await realpath(dirname(target));
    return parent === '/' ? `/${basename(target)}` : `${parent}/${basename(target)}`;
  } catch {
    return target;
  }
}
