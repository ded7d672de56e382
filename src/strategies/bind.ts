import { readdir, rmdir, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { mount, unmountPublication } from '../mount-command.js';
import { withCopiedFlags } from '../mount-flags.js';
import { isMountPoint } from '../mount-point.js';
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

  async looksPublished({ target, sharePath, subPath }) {
    // A mount point that shows the sub-path's own directory (a bind mount has its inode): not
    // merely any mount, which could be someone else's made after ours went.
    try {
      if (!(await isMountPoint(target))) return false;
      const [shown, expected] = await Promise.all([stat(target), stat(subPath === '' ? sharePath : `${sharePath}/${subPath}`)]);
      return shown.dev === expected.dev && shown.ino === expected.ino;
    } catch {
      return false;
    }
  },

  async isPublished({ target, subPath, shareMount, mounts }) {
    const entry = mounts.get(target);
    if (!entry) return false;
    if (!shareMount) return subPath === '' || entry.root.endsWith(`/${subPath}`);
    return entry.device === shareMount.device && entry.root === posix.join(shareMount.root, subPath);
  },
};
