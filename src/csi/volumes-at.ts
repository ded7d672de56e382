import { SharemountError, isSharemountError } from '../errors.js';
import type { MountManager, Publication } from '../mount-manager.js';
import { entriesOfFilesystemAt, mountAt, readMountInfoText } from '../mountinfo.js';
import { canonicalTarget } from '../target.js';

/*
 * Which CSI volume a staging or target path shows. NodeStageVolume labels its publication with
 * the volume id; a target is a bind of a staging path, so the kernel shows it as the same
 * directory (root) of the same filesystem (device) as that publication. The mount table is read
 * first and the path itself never looked up: a hung mount there would block the lookup.
 */

/** What is mounted at a path, and the volumes of the publications that show the same directory. */
export type VolumesAt =
  | { mounted: false }
  /** `undefined` in `volumes` stands for a publication without a label (staged before labels were kept). */
  | { mounted: true; volumes: ReadonlySet<string | undefined> };

export async function volumesAt(manager: Pick<MountManager, 'publicationAt'>, path: string): Promise<VolumesAt> {
  const mounts = await mountsOfSameDirectory(manager, path);
  if (mounts === undefined) return { mounted: false };
  return { mounted: true, volumes: new Set(mounts.flatMap((m) => (m.publication ? [m.publication.label] : []))) };
}

/**
 * The writable mount points other than `staging` and `except` that show the directory staged
 * at `staging` and hold no publication of their own: the targets it is bound to read/write.
 * (A staged directory that is itself a mount point, with no sub-path below it, counts that
 * mount too: nothing in the mount table tells it from a target.)
 */
export async function writableTargetsOf(manager: Pick<MountManager, 'publicationAt'>, staging: string, except: string): Promise<string[]> {
  const mounts = (await mountsOfSameDirectory(manager, staging)) ?? [];
  return mounts.filter((m) => m.publication === undefined && !m.readOnly && m.mountPoint !== staging && m.mountPoint !== except).map((m) => m.mountPoint);
}

/**
 * The mounts that show the same directory of the same filesystem as the mount at `path` (that
 * one included), each with sharemount's publication there if it has one (a staging path's);
 * a share's own mount, inside the state root, is left out. Undefined when nothing is mounted
 * at `path`.
 */
async function mountsOfSameDirectory(manager: Pick<MountManager, 'publicationAt'>, path: string): Promise<{ mountPoint: string; readOnly: boolean; publication: Publication | undefined }[] | undefined> {
  const table = readMountInfoText();
  const top = mountAt(table, path);
  if (top === undefined) return undefined;
  const mounts = [];
  for (const entry of entriesOfFilesystemAt(table, path)) {
    if (entry.root !== top.root) continue;
    try {
      mounts.push({ mountPoint: entry.mountPoint, readOnly: entry.mountOptions.includes('ro'), publication: await manager.publicationAt(entry.mountPoint) });
    } catch (error) {
      // A share's own mount point, inside the state root, is nobody's target.
      if (!isSharemountError(error, 'INVALID_ARGUMENT')) throw error;
    }
  }
  return mounts;
}

/** The volume a staging publication holds when it is another than `volumeId` (an unlabeled one may be anyone's). */
export function otherVolumeIn(staged: Publication | undefined, volumeId: string): string | undefined {
  const label = staged?.label;
  return label !== undefined && label !== volumeId ? label : undefined;
}

/** Whether the records allow that `found` shows volume `volumeId` (an unlabeled publication may be anyone's). */
export function mayShow(found: VolumesAt, volumeId: string): boolean {
  return found.mounted && (found.volumes.has(volumeId) || found.volumes.has(undefined));
}

/**
 * `path`, canonical, when it shows volume `volumeId` (staged or published there); NOT_FOUND
 * otherwise, as NodeGetVolumeStats and NodeExpandVolume must answer for a path without the volume.
 */
export async function pathShowing(manager: Pick<MountManager, 'publicationAt'>, volumeId: string, volumePath: string): Promise<string> {
  const path = volumePath.startsWith('/') ? canonicalTarget(volumePath) : undefined;
  if (path === undefined || !mayShow(await volumesAt(manager, path), volumeId)) {
    throw new SharemountError('NOT_FOUND', `volume_path: volume ${volumeId} is not staged or published at ${volumePath}`, { field: 'volume_path' });
  }
  return path;
}
