import { lstatSync, readlinkSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { SharemountError } from '../errors.js';
import type { PublishStrategy } from './strategy.js';

/**
 * A symlink at the target pointing into the share (nfs-flex-volume's way): no mount at all,
 * but no read-only, no fsGroup, and a dangling link if the share goes (docs/strategies.md).
 * An empty directory at the target (kubelet creates one) is replaced by the link. The target is
 * in kubelet's local directories, never in a share: its calls are synchronous (target.ts).
 */
export const symlinkStrategy: PublishStrategy = {
  async publish({ sharePath, directory, target }) {
    const destination = linkDestination(sharePath, directory.relative);
    const existing = lstatOrUndefined(target);
    if (existing?.isSymbolicLink()) {
      if (readlinkSync(target) === destination) return;
      throw new SharemountError('ALREADY_EXISTS', 'target: is a symlink to somewhere else', { field: 'target' });
    }
    if (existing?.isDirectory()) {
      try {
        rmdirSync(target);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new SharemountError('FAILED_PRECONDITION', `target: directory cannot be replaced by a symlink (${code})`, { field: 'target', cause: error });
      }
    } else if (existing) {
      throw new SharemountError('FAILED_PRECONDITION', 'target: exists and is not a directory', { field: 'target' });
    }
    symlinkSync(destination, target);
  },

  async unpublish({ target, sharePath, subPath }) {
    if (!lstatOrUndefined(target)?.isSymbolicLink()) return;
    if (readlinkSync(target) !== linkDestination(sharePath, subPath)) return; // not ours any more
    unlinkSync(target);
  },

  async looksPublished({ target, sharePath, subPath }) {
    return readlinkOrUndefined(target) === linkDestination(sharePath, subPath);
  },

  async isPublished({ target, sharePath, subPath }) {
    return readlinkOrUndefined(target) === linkDestination(sharePath, subPath);
  },
};

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function readlinkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function linkDestination(sharePath: string, subPath: string): string {
  return subPath === '' ? sharePath : posix.join(sharePath, subPath);
}
