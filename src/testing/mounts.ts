import { readMountInfo, type MountInfoEntry } from '../mountinfo.js';

/** Mounts at or below `dir` in this process's mount namespace, in mount order. */
export async function mountsUnder(dir: string): Promise<MountInfoEntry[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return (await readMountInfo()).filter((entry) => entry.mountPoint === dir || entry.mountPoint.startsWith(prefix));
}
