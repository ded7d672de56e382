import { chmod, chown, lchown, open, readdir, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { O_PATH } from './mount-point.js';
import { SharemountError } from './errors.js';

/** The mode bits kubelet's SetVolumeOwnership adds (pkg/volume/volume_linux.go). */
const readWriteMask = 0o660;
const readOnlyMask = 0o440;
const executeMask = 0o110;
const setgid = 0o2000;

export interface FsGroupOptions {
  /** As kubelet does for a read-only volume: add r instead of rw. */
  readOnly?: boolean;
  /** Give up (throw TIMEOUT) once this many milliseconds have passed. */
  timeoutMs?: number;
  /**
   * kubelet's `fsGroupChangePolicy: OnRootMismatch`: skip the walk when the root directory has
   * the group, the mode bits and setgid already. The root is changed last, so a walk that did
   * not finish leaves it unchanged and the next attempt walks again.
   */
  onRootMismatch?: boolean;
}

export interface FsGroupResult {
  /** Entries visited (0 when skipped). */
  entries: number;
  /** Whether `onRootMismatch` found the root matching and walked nothing. */
  skipped: boolean;
  /** Entries whose chown or chmod failed (a read-only or root-squashed filesystem): skipped, as kubelet skips them. */
  failed: number;
  /** The errno of the first failure, for the log. */
  firstFailure?: string;
}

/**
 * Applies a pod's fsGroup to the directory `root` and everything under it, the way kubelet's
 * SetVolumeOwnership does: every file and directory gets group `gid` (symlinks themselves too,
 * never what they point to), files gain `ug+rw` (`ug+r` read-only), directories also `ug+x`
 * and setgid so new files inherit the group. Like kubelet, a chown or chmod that fails is
 * counted and skipped, not thrown (a root-squashed NFS export refuses them all); a directory
 * that cannot be listed is thrown. Each directory is changed after its children, the root last.
 * kubelet cannot do this through a symlink and would repeat it through a bind mount, so the
 * FlexVolume shim does it on the share's real directory.
 *
 * The tree belongs to pods, which may swap a file for a symlink at any moment: so nothing is
 * addressed by a path that could be followed. Each entry is opened `O_PATH|O_NOFOLLOW` relative
 * to its parent's open descriptor (through /proc/self/fd) and changed through its own
 * descriptor, so a swapped entry is changed, if at all, as the symlink it has become. `root`
 * itself is followed and must be a directory: pass a path nobody else controls, such as the
 * /proc/self/fd path of a directory opened safely (`openInsideShare`).
 */
export async function applyFsGroup(root: string, gid: number, options: FsGroupOptions = {}): Promise<FsGroupResult> {
  if (!Number.isInteger(gid) || gid < 0 || gid > 4_294_967_294) throw new SharemountError('INVALID_ARGUMENT', 'fsGroup: must be a group id', { field: 'fsGroup' });
  const mask = options.readOnly ? readOnlyMask : readWriteMask;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const result: FsGroupResult = { entries: 0, skipped: false, failed: 0 };
  /** Runs one entry's changes in turn; a refused one is noted and the entry left as it is. */
  const change = async (...steps: (() => Promise<void>)[]): Promise<void> => {
    try {
      for (const step of steps) await step();
    } catch (error) {
      result.failed++;
      result.firstFailure ??= (error as NodeJS.ErrnoException).code ?? String(error);
    }
  };

  const visit = async (parent: FileHandle | undefined, name: string): Promise<void> => {
    if (Date.now() > deadline) throw new SharemountError('TIMEOUT', `applying fsGroup to ${root} took longer than ${options.timeoutMs} ms`);
    const where = parent === undefined ? root : `/proc/self/fd/${parent.fd}/${name}`;
    let handle: FileHandle;
    try {
      handle = await open(where, parent === undefined ? O_PATH | constants.O_DIRECTORY : O_PATH | constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && parent !== undefined) return; // removed while we walked
      throw error;
    }
    try {
      const stat = await handle.stat();
      if (parent === undefined && options.onRootMismatch && rootMatches(stat, gid, mask)) {
        result.skipped = true;
        return;
      }
      result.entries++;
      if (stat.isSymbolicLink()) {
        await change(() => lchown(where, -1, gid)); // the link itself: lchown never follows
        return;
      }
      const self = `/proc/self/fd/${handle.fd}`; // this exact inode, whatever its name points to now
      if (stat.isDirectory()) {
        for (const child of await readdir(self)) await visit(handle, child);
      }
      const wanted = (stat.mode & 0o7777) | mask | (stat.isDirectory() ? executeMask | setgid : 0);
      // chown clears setgid on some filesystems, so the mode is set after it, from the mode wanted
      await change(
        async () => (stat.gid === gid ? undefined : chown(self, -1, gid)),
        async () => (wanted === (stat.mode & 0o7777) && stat.gid === gid ? undefined : chmod(self, wanted)),
      );
    } finally {
      await handle.close();
    }
  };

  await visit(undefined, '');
  return result;
}

/** kubelet's test for OnRootMismatch: the root directory has the group, the mode bits and setgid. */
function rootMatches(stat: { gid: number; mode: number; isDirectory(): boolean }, gid: number, mask: number): boolean {
  const wanted = mask | executeMask;
  return stat.isDirectory() && stat.gid === gid && (stat.mode & wanted) === wanted && (stat.mode & setgid) !== 0;
}
