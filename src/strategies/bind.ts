import { readdir, rmdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { isBrokenMountError } from '../broken-mount.js';
import { mount, unmountPublication } from '../mount-command.js';
import { withCopiedFlags } from '../mount-flags.js';
import { identityAt, isMountPoint } from '../mount-point.js';
import { isWithin } from '../target.js';
import { entriesOfFilesystemAt, readMountInfoText } from '../mountinfo.js';
import { withTimeout } from '../timeout.js';
import type { PublishStrategy } from './strategy.js';

/**
 * A bind mount of `share/subPath` onto the target, made read-only when asked. The mount's
 * source is the /proc fd path of the directory opened safely inside the share, so what gets
 * mounted is exactly what was checked.
 */
async function isSymlinkEntry(path: string): Promise<boolean> {
  const name = posix.basename(path);
  const entries = await readdir(posix.dirname(path), { withFileTypes: true }).catch(() => []);
  return entries.some((entry) => entry.name === name && entry.isSymbolicLink());
}

export const bindStrategy: PublishStrategy = {
  async publish({ directory, target, readOnly, shareFlags, timeoutMs }) {
    // util-linux applies `ro` to a bind mount with a second, remount step of its own, which
    // would drop the share's other flags (nosuid, noexec...) unless they are given again.
    // Inheriting the locks: if we die mid-mount, reconcile waits for this mount to finish.
    const options = readOnly ? withCopiedFlags(['ro'], shareFlags) : [];
    await mount({ bind: true, noCanonicalize: true, inheritLocks: true, source: directory.procPath, target, options }, timeoutMs);
  },

  async unpublish({ target, sharePath, removeTarget, timeoutMs, logger }) {
    // A bind publication's target is never a symlink: one there now was put in its place, and
    // umount would follow it to whatever it names (another pod's volume). The parent's entry
    // says so without touching the target, which may be a mount of a hung share.
    if (await isSymlinkEntry(target)) {
      logger.warn({ target }, 'target replaced by a symlink: not followed, nothing unmounted');
      return;
    }
    await unmountPublication(target, timeoutMs, logger);
    // When someone's mount covered the publication, that was the layer just taken off: the
    // publication below goes too, or it would stay mounted with its reference gone.
    for (let layer = 1; layer < maxLayers && (await stillShowsShare(target, sharePath, timeoutMs)); layer++) {
      logger.warn({ target }, 'the publication was covered by another mount; both taken off');
      await unmountPublication(target, timeoutMs, logger);
    }
    if (!removeTarget) return;
    try {
      await rmdir(target); // only ever an empty directory: never a recursive delete
    } catch (error) {
      // The publication is gone already: whatever keeps its directory (not empty, busy, a
      // read-only or immutable parent) must not fail the unpublish and leave its reference.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') logger.warn({ target, code }, 'unpublished; the target directory could not be removed and is left in place');
    }
  },

  async looksPublished({ target, sharePath, subPath, directoryInode }) {
    // A mount point that shows the sub-path's own directory (a bind mount has its inode): not
    // merely any mount, which could be someone else's made after ours went. Or one that shows
    // the very directory published, renamed since (see showsRenamedDirectory).
    try {
      if (!(await isMountPoint(target))) return false;
      const [shown, expected] = await Promise.all([stat(target), stat(subPath === '' ? sharePath : `${sharePath}/${subPath}`).catch(() => undefined)]);
      if (expected && shown.dev === expected.dev && shown.ino === expected.ino) return true;
      return directoryInode !== undefined && (await showsDirectory(target, sharePath, directoryInode));
    } catch (error) {
      // A broken share cannot say: not "not published", which would drop the reference of a
      // pod's mount (the caller's bound reports it as BROKEN_MOUNT).
      if (isBrokenMountError(error)) throw error;
      return false;
    }
  },

  async isPublished({ target, subPath, shareMount, mounts }) {
    const entry = mounts.get(target);
    if (!entry) return false;
    if (!shareMount) return subPath === '' || entry.root.endsWith(`/${subPath}`);
    return entry.device === shareMount.device && entry.root === posix.join(shareMount.root, subPath);
  },

  async showsRenamedDirectory({ target, sharePath, directoryInode, shareMount, mounts }) {
    // When one volume lies inside another, the outer one's consumer can rename the inner one's
    // directory: the mount table then shows the new name, but the mount still has the
    // directory published.
    const entry = mounts.get(target);
    if (!entry || entry.device !== shareMount.device || !isWithin(entry.root, shareMount.root)) return false;
    return showsDirectory(target, sharePath, directoryInode, entry.id);
  },
};

/** Mounts stacked on one target that an unpublish takes off, at most. */
const maxLayers = 8;

/** After an unmount: whether `target` still shows a directory of the share (one bounded open when it does not). */
async function stillShowsShare(target: string, sharePath: string, timeoutMs: number): Promise<boolean> {
  const mounted = await withTimeout(isMountPoint(target), Math.min(timeoutMs, 1_000), 'checking the target').catch(() => true);
  return mounted && showsShareAt(target, sharePath);
}

/**
 * Whether the mount table shows at `target`, in any layer, a mount of a directory of the share
 * mounted at `sharePath`: its publication, perhaps renamed since or covered by another mount.
 * The table only: the target itself is never looked up (it may hang).
 */
export function showsShareAt(target: string, sharePath: string): boolean {
  const entries = entriesOfFilesystemAt(readMountInfoText(), sharePath);
  const share = entries.findLast((entry) => entry.mountPoint === sharePath);
  return share !== undefined && entries.some((entry) => entry.mountPoint === target && isWithin(entry.root, share.root));
}

/**
 * Whether the mount at `target` (the one with `mountId`, when known) has the directory whose
 * inode is `directoryInode`, on the share's filesystem: the inode as fdinfo shows it, the same
 * number the reference recorded (stat's may differ: NFS without 64-bit inode numbers), and the
 * device as stat shows it (btrfs subvolumes share one device in the mount table, and number
 * their inodes alike). While a publication's mount holds its directory no other directory
 * there gets its number.
 */
async function showsDirectory(target: string, sharePath: string, directoryInode: string, mountId?: number): Promise<boolean> {
  const shown = await identityAt(target);
  if (shown.inode !== directoryInode || (mountId !== undefined && shown.mountId !== mountId)) return false;
  const [targetStat, shareStat] = await Promise.all([stat(target), stat(sharePath)]);
  return targetStat.dev === shareStat.dev;
}
