import { readdir, rmdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { mount, unmountPublication } from '../mount-command.js';
import { withCopiedFlags } from '../mount-flags.js';
import { inodeAt, isMountPoint } from '../mount-point.js';
import { isWithin } from '../target.js';
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

  async unpublish({ target, removeTarget, timeoutMs, logger }) {
    // A bind publication's target is never a symlink: one there now was put in its place, and
    // umount would follow it to whatever it names (another pod's volume). The parent's entry
    // says so without touching the target, which may be a mount of a hung share.
    if (await isSymlinkEntry(target)) {
      logger.warn({ target }, 'target replaced by a symlink: not followed, nothing unmounted');
      return;
    }
    await unmountPublication(target, timeoutMs, logger);
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
    // the very directory published, renamed since (see isPublished).
    try {
      if (!(await isMountPoint(target))) return false;
      const [shown, expected] = await Promise.all([stat(target, { bigint: true }), stat(subPath === '' ? sharePath : `${sharePath}/${subPath}`, { bigint: true }).catch(() => undefined)]);
      if (expected && shown.dev === expected.dev && shown.ino === expected.ino) return true;
      return directoryInode === String(shown.ino) && shown.dev === (await stat(sharePath, { bigint: true })).dev;
    } catch {
      return false;
    }
  },

  async isPublished({ target, subPath, directoryInode, shareMount, mounts, timeoutMs }) {
    const entry = mounts.get(target);
    if (!entry) return false;
    if (!shareMount) return subPath === '' || entry.root.endsWith(`/${subPath}`);
    if (entry.device !== shareMount.device || !isWithin(entry.root, shareMount.root)) return false;
    if (entry.root === posix.join(shareMount.root, subPath)) return true;
    // The mount shows another directory of the share. When one volume lies inside another, the
    // outer one's consumer can rename the inner one's directory: the mount table then shows the
    // new name, but the mount still has the directory published, the inode recorded. While
    // that mount holds the directory no other one gets its number, so any other mount of the
    // share there shows another inode.
    return directoryInode !== undefined && (await withTimeout(inodeAt(target), timeoutMs, `checking the publication at ${target}`)) === directoryInode;
  },
};
