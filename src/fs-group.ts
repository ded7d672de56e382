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
}

/**
 * Applies a pod's fsGroup to the directory `root` and everything under it, the way kubelet does for volumes it can
 * own: every file and directory gets group `gid` (symlinks themselves too, never what they
 * point to), files gain `ug+rw` (`ug+r` read-only), directories also `ug+x` and setgid so new
 * files inherit the group. kubelet cannot do this through a symlink and would repeat it through
 * a bind mount, so the FlexVolume shim does it on the share's real directory.
 *
 * The tree belongs to pods, which may swap a file for a symlink at any moment: so nothing is
 * addressed by a path that could be followed. Each entry is opened `O_PATH|O_NOFOLLOW` relative
 * to its parent's open descriptor (through /proc/self/fd) and changed through its own
 * descriptor, so a swapped entry is changed, if at all, as the symlink it has become. `root`
 * itself is followed and must be a directory: pass a path nobody else controls, such as the
 * /proc/self/fd path of a directory opened safely (`openInsideShare`).
 */
export async function applyFsGroup(root: string, gid: number, options: FsGroupOptions = {}): Promise<{ entries: number }> {
  if (!Number.isInteger(gid) || gid < 0 || gid > 4_294_967_294) throw new SharemountError('INVALID_ARGUMENT', 'fsGroup: must be a group id', { field: 'fsGroup' });
  const mask = options.readOnly ? readOnlyMask : readWriteMask;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let entries = 0;

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
      entries++;
      if (stat.isSymbolicLink()) {
        await lchown(where, -1, gid); // the link itself: lchown never follows
        return;
      }
      const self = `/proc/self/fd/${handle.fd}`; // this exact inode, whatever its name points to now
      if (stat.gid !== gid) await chown(self, -1, gid);
      const wanted = (stat.mode & 0o7777) | mask | (stat.isDirectory() ? executeMask | setgid : 0);
      // chown clears setgid on some filesystems, so the mode is set after it, from the mode wanted
      if (wanted !== (stat.mode & 0o7777) || stat.gid !== gid) await chmod(self, wanted);
      if (!stat.isDirectory()) return;
      const names = await readdir(self);
      for (const child of names) await visit(handle, child);
    } finally {
      await handle.close();
    }
  };

  await visit(undefined, '');
  return { entries };
}
