import { constants } from 'node:fs';
import { SharemountError, invalidArgument } from './errors.js';
import type { AnyBackend, Source } from './backend.js';
import { O_PATH, closePath, openPath, procPathOf } from './path-descriptor.js';
import { isWithin } from './target.js';
import { isInside, overlaps, placeOfDirectoryBounded, placeOfFdBounded, placeOfPath, type Place } from './identity.js';
import { withTimeout } from './timeout.js';

/**
 * What a publication onto a share that is mounted already checks of its host directory: that it
 * still lies where the backend's `allowedUnder` allows (a share mounted before the limit was set,
 * or by a manager without it, must not serve new consumers). Nothing for other backends, or
 * without `allowedUnder`.
 */
export async function admitHostDirectory(backend: AnyBackend, source: Source, bounds: { root: string; fsMs: number }): Promise<void> {
  if (backend.hostDirectory?.(source).allowedUnder === undefined) return;
  // The state root was kept apart when the share was mounted; placing the root again on every
  // publication would cost a walk up to `/`, for nothing.
  await withHostDirectory(backend, source, { ...bounds, rootCheckedAlready: true }, async () => undefined);
}

/**
 * Runs `mount` with a backend's host directory (the bind backend's `path`) opened and checked:
 * the real path, read back from the open descriptor, must not be the state root, inside it or
 * above it (every publication would show the root's records and key), and must lie in one of
 * the backend's `allowedUnder` directories when it names some. `mount` gets the
 * descriptor's /proc path, which names exactly the directory checked: mount(8) given the
 * source's own path would resolve it again, and a symlink on the way swapped in between would
 * lead it elsewhere. Backends without a host directory get undefined.
 */
export async function withHostDirectory<T>(
  backend: AnyBackend,
  source: Source,
  { root, fsMs, rootCheckedAlready = false }: { root: string; fsMs: number; rootCheckedAlready?: boolean },
  mount: (heldPath: string | undefined) => Promise<T>,
): Promise<T> {
  const directory = backend.hostDirectory?.(source);
  if (directory === undefined) return mount(undefined);
  if (directory.allowedUnder?.length === 0) {
    // Nothing is served until the driver says what: refused before the path is even looked at.
    throw invalidArgument(directory.field, `is refused: this driver serves no host directory${directory.allowedBy === undefined ? '' : ` until it lists the ones it may mount in ${directory.allowedBy}`}`);
  }
  // Symlinks on the way are followed, as a host path's may be (/data -> /mnt/disk1); what
  // counts is where the descriptor ends up.
  const opening = openPath(directory.path, O_PATH | constants.O_DIRECTORY);
  let fd: number;
  try {
    fd = await withTimeout(opening, fsMs, `opening ${directory.field}`);
  } catch (error) {
    void opening.then(closePath, () => {}); // a hung open's descriptor, whenever it comes
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SharemountError('NOT_FOUND', `${directory.field}: ${directory.path} does not exist`, { field: directory.field });
    if (code === 'ENOTDIR') throw invalidArgument(directory.field, `${directory.path} is not a directory`);
    throw error;
  }
  try {
    const bound = <R>(work: Promise<R>) => withTimeout(work, fsMs, `checking ${directory.field}`);
    // By identity, not by the path read back: a bind mount of the root's parent elsewhere
    // would give the root, or a directory inside it, a path no string check recognises.
    const place = await placeOfFdBounded(fd, bound);
    const real = place.path;
    if (isWithin(real, root) || isWithin(root, real) || (!rootCheckedAlready && overlaps(place, placeOfPath(root)))) {
      throw invalidArgument(directory.field, "must not be inside (or above) sharemount's state root: every publication would show its records and key");
    }
    if (directory.allowedUnder !== undefined) {
      const allowed = await Promise.all(directory.allowedUnder.map((dir) => placeOfAllowed(dir, bound)));
      if (!allowed.some((dir) => dir !== undefined && isInside(place, dir))) {
        throw invalidArgument(directory.field, `must be inside ${directory.allowedUnder.join(' or ')}, the host directories this driver serves${directory.allowedBy === undefined ? '' : ` (${directory.allowedBy})`}`);
      }
    }
    return await mount(procPathOf(fd, process.pid));
  } finally {
    closePath(fd);
  }
}

/** An allowed host directory, placed (undefined when it does not exist or cannot be reached: nothing lies inside it). */
function placeOfAllowed(dir: string, bound: <R>(work: Promise<R>) => Promise<R>): Promise<Place | undefined> {
  return placeOfDirectoryBounded(dir, bound).catch(() => undefined);
}
