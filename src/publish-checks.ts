import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SharemountError, invalidArgument } from './errors.js';
import { overlaps, placeOfFdBounded, type Place } from './identity.js';
import type { Logger } from './logger.js';
import type { Timeouts } from './manager-options.js';
import { flagsAtMountPoint } from './mount-flags.js';
import { localMountIdOf, mountIdOf, mountIdOfFd } from './mount-point.js';
import { closePath, directoryFlags, openPath } from './path-descriptor.js';
import type { CheckedRequest } from './publish-request.js';
import type { ShareKey } from './share-key.js';
import type { StateStore } from './state.js';
import { openInside, type OpenedSubPath } from './subpath.js';
import { withTimeout, type Deadline } from './timeout.js';
import { admitHostDirectory, withHostDirectory } from './host-directory.js';

/*
 * The checks a publication makes before it records its reference and makes its bind mount or
 * symlink, side by side in libuv's threads: the target is not already someone else's mount
 * point, and the share is mounted (mounted now if need be) and answers, with the sub-path
 * opened inside it.
 */

/** What the checks need of the manager. */
export interface CheckContext {
  /** The state root, symlinks resolved. */
  root: string;
  state: StateStore;
  /**
   * The mount the state root lies on. A share's mount point lies on another one exactly when
   * the share is mounted (nothing but sharemount mounts inside the root).
   */
  rootMountId: number;
  /** The state root as the kernel places it: targets and sub-paths are checked against it by identity. */
  rootPlace: Place;
  /**
   * The shares whose host directory this process has admitted (see `admitMountedShare`), with
   * the mount id of the share's mount it admitted: a share mounted again since is admitted again.
   */
  admittedShares: Map<ShareKey, number>;
  timeouts: Timeouts;
  logger: Logger;
}

/** Bounds one call (a Deadline's, or one of its own). */
type Bound = <T>(work: Promise<T>, what: string) => Promise<T>;

/**
 * Whether something is already mounted at a target that has no reference. Asynchronous and
 * bounded: on a mount point, opening even with O_PATH lets NFS revalidate the mount's root, so
 * a hung mount there must not block the process. A missing target is not a mount point.
 */
export async function isForeignMountPoint(target: string, deadline: Deadline): Promise<boolean> {
  try {
    // Only the target itself may be a hung mount: its parent was walked synchronously already
    // (canonicalTarget's realpath), and is read here while the target is opened.
    const own = deadline.bound(mountIdOf(target), 'checking the target');
    own.catch(() => {}); // awaited below
    const parent = localMountIdOf(dirname(target));
    return (await own) !== parent;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Makes sure the share is mounted and answers, and opens the request's sub-path inside it,
 * creating what `createIfNecessary` asks for once `beforeCreate` (the target's checks) resolves.
 * `progress.mountAttempted` tells the caller whether a failure came from mounting it (the
 * share is then released) or from a share that was mounted but did not answer (left alone).
 */
export async function openShared(
  context: CheckContext,
  request: CheckedRequest,
  key: ShareKey,
  progress: { mountAttempted: boolean },
  deadline: Deadline,
  beforeCreate: () => Promise<void>,
): Promise<OpenedSubPath> {
  const sharePath = context.state.mountPoint(key);
  // The backend's own limits first, for a share mounted already too (see Backend.admit).
  await request.backend.admit?.(request.source);
  const mountedShareId = await admitMountedShare(context, request, key, deadline);
  const walk = { create: request.createIfNecessary, mode: request.createMode, beforeCreate };
  const [first = '', ...rest] = request.subPath === '' ? [] : request.subPath.split('/');
  // Whether the share answers is asked at once, beside the open below, and awaited only when
  // the share turns out to have been mounted before (a share mounted now has just answered).
  const answering = statfs(sharePath);
  answering.catch(() => {}); // awaited below, or not at all
  // The share's own mount: a sub-path that ends on another mount crossed one inside the share.
  let shareMountId = mountedShareId;
  let opening: Promise<OpenedSubPath>;
  let mountedNow = false;
  let bound: Bound = (work, what) => deadline.bound(work, what);
  // The common case in one open: the sub-path's first name, opened under the share's mount
  // point without following a link, tells by its mount id that the share is mounted.
  const start = await openInMountedShare(context, first === '' ? sharePath : `${sharePath}/${first}`, bound);
  if (start !== undefined) {
    opening = openInside(start, rest.join('/'), walk, first);
  } else {
    // Not mounted, or the first name is missing or refused: the share's root first.
    let root = await openInMountedShare(context, sharePath, bound);
    if (root === undefined) {
      progress.mountAttempted = true;
      await mountShare(context, request, key);
      mountedNow = true;
      // Mounting took its own time (bounded by commandMs): what follows gets bounds of its own.
      bound = (work, what) => withTimeout(work, context.timeouts.fsMs, what);
      root = await openInMountedShare(context, sharePath, bound);
      if (root === undefined) throw new SharemountError('INTERNAL', `backend ${request.backend.name} reported success but nothing is mounted at the share`);
    }
    shareMountId = mountIdOfFd(root);
    opening = openInside(root, request.subPath, walk);
  }
  opening = bound(opening, 'opening subPath in the share');
  if (first !== '') {
    // The share's mount id: known when the walk started from its root, else asked once the walk
    // is done rather than beside it (on a hung share, every one of libuv's four threads stuck for
    // good is one fewer for all other shares).
    const known = shareMountId;
    opening = opening.then((opened) => checkedAgainstRoot(context, opened, known ?? bound(mountIdOf(sharePath), 'checking the share'), bound));
  }
  opening.catch(() => {}); // its failure is the caller's, whenever it awaits it
  // A share that was already mounted must also answer (statfs), so that a consumer is never
  // handed a dead mount (a FUSE daemon gone, an NFS handle gone stale): BROKEN_MOUNT, or
  // TIMEOUT when it does not answer. A broken share is not remounted under its other
  // consumers; once the last of them goes it is unmounted, and the next publish mounts it
  // afresh.
  if (!mountedNow) {
    try {
      await bound(answering, 'checking that the share answers');
    } catch (error) {
      void opening.then((opened) => opened.close()).catch(() => {});
      throw error;
    }
  }
  return opening;
}

/**
 * A publication onto a share that is mounted already checks its host directory (the bind
 * backend's `path`) against the backend's `allowedUnder`: a share mounted before the limit was
 * set, or by a manager without it, must not serve new consumers. Placing the directory is a
 * walk up to `/` in libuv's threads, so each share mount is admitted once per process (by its
 * mount id: a share mounted again is admitted again). A share not mounted yet is checked by its
 * mount. Returns the share's mount id when it asked for it (a share with a host directory).
 */
async function admitMountedShare(context: CheckContext, request: CheckedRequest, key: ShareKey, deadline: Deadline): Promise<number | undefined> {
  if (request.backend.hostDirectory?.(request.source)?.allowedUnder === undefined) return undefined;
  const mountId = await deadline.bound(mountIdOf(context.state.mountPoint(key)), 'checking the share').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // never mounted
    throw error;
  });
  if (mountId === undefined || mountId === context.rootMountId) return undefined; // mounted below, and checked then
  if (context.admittedShares.get(key) !== mountId) {
    await admitHostDirectory(request.backend, request.source, { root: context.root, fsMs: context.timeouts.fsMs });
    context.admittedShares.set(key, mountId);
  }
  return mountId;
}

/**
 * The sub-path's walk never follows a link, but it does cross the mounts inside the share (an
 * NFS server's nested exports, a host directory with mounts under it). One of those may be
 * another path to the state root, mounted there by an administrator (a bind mount of
 * `/var/lib`): a sub-path that ends on a mount other than the share's own is placed by
 * identity, and refused when it is the state root, lies inside it or above it. Closes the
 * opened sub-path when it is refused.
 */
async function checkedAgainstRoot(context: CheckContext, opened: OpenedSubPath, shareMountId: number | Promise<number>, bound: Bound): Promise<OpenedSubPath> {
  try {
    const share = await shareMountId;
    if (opened.identity().mountId === share) return opened;
    const place = await placeOfFdBounded(opened.fd, (work) => bound(work, 'checking subPath'));
    // Only the mounts inside the share count: above them, the walk up passes through the share's
    // own mount point, which the root holds.
    const below = place.chain.findIndex((step) => step.mountId === share);
    if (overlaps({ ...place, chain: below === -1 ? place.chain : place.chain.slice(0, below) }, context.rootPlace)) {
      throw invalidArgument('subPath', `"${opened.relative}" leads, through a mount inside the share, into (or above) sharemount's state root`);
    }
    return opened;
  } catch (error) {
    await opened.close();
    throw error;
  }
}

/**
 * Opens a directory at or just under a share's mount point when it lies on another mount than
 * the state root, that is when the share is mounted; undefined when the share is not mounted
 * or the name is missing, a link or not a directory (the caller then walks from the root,
 * which says which). Bounded: on a hung share the open hangs.
 */
async function openInMountedShare(context: CheckContext, path: string, bound: Bound): Promise<number | undefined> {
  const opening = openPath(path, directoryFlags);
  let fd;
  try {
    fd = await bound(opening, 'checking the share');
  } catch (error) {
    void opening.then(closePath, () => {}); // a hung share's descriptor, whenever it comes
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  if (mountIdOfFd(fd) !== context.rootMountId) return fd;
  closePath(fd);
  return undefined;
}

/** Mounts the share (its directories, its record, then the backend's mount). */
async function mountShare(context: CheckContext, request: CheckedRequest, key: ShareKey): Promise<void> {
  await withHostDirectory(request.backend, request.source, { root: context.root, fsMs: context.timeouts.fsMs }, async (hostDirectoryPath) => {
    await context.state.createShare({
      version: 1,
      key,
      backend: request.backend.name,
      source: { ...request.source },
      options: [...request.options],
      hasSensitiveOptions: request.sensitiveOptions.length > 0,
      createdAt: new Date().toISOString(),
    });
    await request.backend.mount({
      source: request.source,
      options: request.options,
      sensitiveOptions: request.sensitiveOptions,
      mountPoint: context.state.mountPoint(key),
      timeoutMs: context.timeouts.commandMs,
      logger: context.logger,
      ...(hostDirectoryPath === undefined ? {} : { hostDirectoryPath }),
    });
  });
  context.logger.info({ share: key }, 'share mounted');
}

/**
 * The share mount's per-mount flags, which a read-only publication is given again: from its
 * record, or, for the share's first read-only publication, from the mount table, then
 * recorded. Read then rather than when the share is mounted: the mount table grows with the
 * node's mounts, and most shares never get a read-only publication. The caller holds the
 * share's lock and the share is mounted.
 */
export async function shareMountFlags(context: CheckContext, key: ShareKey): Promise<readonly string[]> {
  const recorded = (await context.state.readShare(key))?.mountFlags;
  if (recorded) return recorded;
  const flags = flagsAtMountPoint(context.state.mountPoint(key)) ?? [];
  await context.state.setShareMountFlags(key, flags);
  return flags;
}
