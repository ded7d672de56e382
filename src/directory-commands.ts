import { run } from './exec.js';
import { SharemountError, isSharemountError } from './errors.js';
import type { MountInfoEntry } from './mountinfo.js';
import { isWithin } from './target.js';

/**
 * File operations on the directories volumes are provisioned in (an NFS export's view on the
 * controller, a host directory), each one a coreutils child process with a timeout: a call into
 * a hung NFS mount blocks in the kernel, and in this process it would hold a libuv thread
 * forever. None of them follows a symlink: the last component is checked with lstat semantics,
 * `chown --no-dereference` changes a link itself, `mv` renames a link itself, and `rm` (fts,
 * openat with O_NOFOLLOW) never descends through one. A symlink on an NFS export is resolved by
 * the client, so following one would reach the controller's own files.
 */
const env = { LC_ALL: 'C', LANG: 'C' };

export type EntryType = 'directory' | 'file' | 'symlink' | 'other' | 'missing';

/** What `path` is, without following a symlink at its last component. */
export async function entryType(path: string, timeoutMs: number): Promise<EntryType> {
  try {
    const { stdout } = await run('stat', ['--format=%F', '--', path], { timeoutMs, env });
    if (stdout === 'directory') return 'directory';
    if (stdout === 'regular file' || stdout === 'regular empty file') return 'file';
    if (stdout === 'symbolic link') return 'symlink';
    return 'other';
  } catch (error) {
    if (isSharemountError(error, 'COMMAND_FAILED') && /No such file or directory/.test(String(error.details?.stderr))) return 'missing';
    throw error;
  }
}

/** Creates one directory (not its parents) with exactly `mode`. */
export async function makeDirectory(path: string, mode: number, timeoutMs: number): Promise<void> {
  // mkdir --mode applies the mode after creation, so the umask cannot narrow it.
  await run('mkdir', [`--mode=${mode.toString(8).padStart(4, '0')}`, '--', path], { timeoutMs, env });
}

/** chown of the entry itself (never through a symlink); nothing when neither id is given. */
export async function changeOwner(path: string, owner: { uid?: number; gid?: number }, timeoutMs: number): Promise<void> {
  if (owner.uid === undefined && owner.gid === undefined) return;
  await run('chown', ['--no-dereference', `${owner.uid ?? ''}:${owner.gid ?? ''}`, '--', path], { timeoutMs, env });
}

/** rmdir: removes a directory only when it is empty. */
export async function removeEmptyDirectory(path: string, timeoutMs: number): Promise<void> {
  await run('rmdir', ['--', path], { timeoutMs, env });
}

/** Renames `from` to `to` in one directory; never replaces an existing `to`. */
export async function renameNoReplace(from: string, to: string, timeoutMs: number): Promise<void> {
  if ((await entryType(to, timeoutMs)) !== 'missing') throw new SharemountError('ALREADY_EXISTS', `${to} already exists`);
  // --no-clobber makes a lost race a no-op rather than a replacement; the check after says which.
  await run('mv', ['--no-clobber', '--no-target-directory', '--', from, to], { timeoutMs, env });
  if ((await entryType(from, timeoutMs)) !== 'missing') throw new SharemountError('ALREADY_EXISTS', `${to} appeared while ${from} was being renamed`);
}

/** Prefix of a volume directory kept by the `archive` delete policy (no volume is ever named so). */
export const archivePrefix = 'archived-';

/** Renames `parent/name` to `archived-<name>`, or `archived-<name>-<ms>` when an earlier one is there: both are kept. */
export async function archiveDirectory(parent: string, name: string, timeoutMs: number): Promise<void> {
  try {
    await renameNoReplace(`${parent}/${name}`, `${parent}/${archivePrefix}${name}`, timeoutMs);
  } catch (error) {
    if (!isSharemountError(error, 'ALREADY_EXISTS')) throw error;
    await renameNoReplace(`${parent}/${name}`, `${parent}/${archivePrefix}${name}-${Date.now()}`, timeoutMs);
  }
}

/**
 * FAILED_PRECONDITION while any of `mounts` shows the volume: a mount of the filesystem `device`
 * whose root (inside that filesystem) is `volumeRoot` or below it. Deleting or archiving it then
 * would take the data from under a pod.
 */
export function refuseWhileMounted(mounts: readonly MountInfoEntry[], device: string, volumeRoot: string, name: string): void {
  const users = mounts.filter((m) => m.device === device && isWithin(m.root, volumeRoot));
  if (users.length > 0) {
    throw new SharemountError('FAILED_PRECONDITION', `volume ${name} is still mounted at ${users.map((u) => u.mountPoint).join(', ')}; unpublish it first`);
  }
}

/**
 * Removes a directory tree. `--one-file-system` skips anything mounted inside it (a publication
 * that somehow is there is never emptied), `--preserve-root=all` refuses any mount point.
 */
export async function removeTree(path: string, timeoutMs: number): Promise<void> {
  await run('rm', ['--recursive', '--one-file-system', '--preserve-root=all', '--', path], { timeoutMs, env });
}

/**
 * The text of a small regular file, or undefined when it does not exist; anything else (a
 * symlink above all, a FIFO) is refused. The read itself opens with O_NOFOLLOW (`dd
 * iflag=nofollow`), so a file swapped for a symlink after the check is not read through.
 */
export async function readSmallFile(path: string, timeoutMs: number): Promise<string | undefined> {
  const found = await entryType(path, timeoutMs);
  if (found === 'missing') return undefined;
  if (found !== 'file') throw new SharemountError('FAILED_PRECONDITION', `${path} is ${found === 'symlink' ? 'a symlink' : `not a regular file (${found})`}; not read`);
  return (await run('dd', [`if=${path}`, 'iflag=nofollow', 'status=none'], { timeoutMs, env })).stdout;
}

/**
 * Replaces `path` with `text`: written to a fresh temp file beside it, created exclusively (`dd
 * conv=excl`: O_CREAT|O_EXCL, which never follows or reuses anything already at that name), then
 * renamed over `path`, so a reader meets the old text or the new one. `mv` replaces a symlink at
 * `path` itself, never what it points to.
 */
export async function replaceSmallFile(path: string, text: string, timeoutMs: number): Promise<void> {
  const temp = `${path}.${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  // An exclusive create that fails has made nothing: there is nothing of ours to remove then.
  await run('dd', [`of=${temp}`, 'conv=excl', 'status=none'], { timeoutMs, env, input: text });
  try {
    await run('mv', ['--force', '--no-target-directory', '--', temp, path], { timeoutMs, env });
  } catch (error) {
    await removeFile(temp, timeoutMs).catch(() => undefined);
    throw error;
  }
}

/** Removes one file (or symlink); a missing one is fine. */
export async function removeFile(path: string, timeoutMs: number): Promise<void> {
  await run('rm', ['--force', '--', path], { timeoutMs, env });
}

/**
 * The regular files named `*<suffix>` directly in `dir`, with their text, read by one `find`
 * (one child process, however many there are: a listing must not cost a process per entry).
 * Symlinks and anything else are skipped; an empty map when `dir` does not exist.
 */
export async function readSmallFiles(dir: string, suffix: string, timeoutMs: number): Promise<Map<string, string>> {
  if ((await entryType(dir, timeoutMs)) !== 'directory') return new Map();
  const { stdout } = await run('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-type', 'f', '-name', `*${suffix}`, '-printf', '%f\\0', '-exec', 'cat', '--', '{}', ';', '-printf', '\\0'], { timeoutMs, env });
  const parts = stdout.split('\0');
  const files = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) files.set(parts[i]!, parts[i + 1]!);
  return files;
}
