import { lstat, readlink, rmdir, symlink, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { SharemountError } from '../errors.js';
import type { PublishStrategy } from './strategy.js';

/**
 * A symlink at the target pointing into the share (nfs-flex-volume's way): no mount at all,
 * but no read-only, no fsGroup, and a dangling link if the share goes (docs/strategies.md).
 * An empty directory at the target (kubelet creates one) is replaced by the link.
 */
export const symlinkStrategy: PublishStrategy = {
  async publish({ sharePath, directory, target }) {
    const destination = linkDestination(sharePath, directory.relative);
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isSymbolicLink()) {
      if ((await readlink(target)) === destination) return;
      throw new SharemountError('ALREADY_EXISTS', 'target: is a symlink to somewhere else', { field: 'target' });
    }
    if (existing?.isDirectory()) {
      await rmdir(target).catch((error: NodeJS.ErrnoException) => {
        throw new SharemountError('FAILED_PRECONDITION', `target: directory cannot be replaced by a symlink (${error.code})`, { field: 'target', cause: error });
      });
    } else if (existing) {
      throw new SharemountError('FAILED_PRECONDITION', 'target: exists and is not a directory', { field: 'target' });
    }
    await symlink(destination, target);
  },

  async unpublish({ target, sharePath, subPath }) {
    const existing = await lstat(target).catch(() => undefined);
    if (!existing?.isSymbolicLink()) return;
    if ((await readlink(target)) !== linkDestination(sharePath, subPath)) return; // not ours any more
    await unlink(target);
  },

  async looksPublished({ target, sharePath, subPath }) {
    return (await readlink(target).catch(() => undefined)) === linkDestination(sharePath, subPath);
  },

  async isPublished({ target, sharePath, subPath }) {
    return (await readlink(target).catch(() => undefined)) === linkDestination(sharePath, subPath);
  },
};

function linkDestination(sharePath: string, subPath: string): string {
  return subPath === '' ? sharePath : posix.join(sharePath, subPath);
}
