import { basename, dirname } from 'node:path';
import { invalidArgument } from '../errors.js';
import { isLocatedWithin, locationShownAt, type FilesystemLocation } from '../filesystem-location.js';
import { readMountInfoText } from '../mountinfo.js';
import { isWithin } from '../target.js';

/**
 * NodePublishVolume's target must lie outside the staging path, and the staging path outside
 * the target: one inside the other would mount the volume into itself, or make the target in
 * the volume's data. The path strings are compared first (the usual mistake, answered without
 * a system call), then where the directories lie in their filesystems (filesystem-location.ts),
 * since another path to them (a bind mount of kubelet's directory elsewhere) spells them
 * differently.
 *
 * Both paths' parents are kubelet's local directories, already walked by `checkedPath`. The
 * staging path is the staged share's mount and the target may be an earlier publication of it:
 * those two are located by the mount table alone, never asked (the share may hang, and a stat
 * stuck in one of libuv's four threads is one fewer for every other volume).
 */
export function checkTargetApartFromStaging(staging: string, target: string): void {
  const refuse = (how = '') => invalidArgument('target_path', `must lie outside staging_target_path ${staging}, and it outside the target${how}`);
  if (isWithin(target, staging) || isWithin(staging, target)) throw refuse();
  const throughAlias = () => refuse(' (it does, through another path to it)');
  const table = readMountInfoText();
  const targetParent = locationShownAt(table, dirname(target));
  const stagingParent = locationShownAt(table, dirname(staging));
  // A parent missing (the staging path's: nothing is staged there, as the call then answers) or
  // not reachable in this namespace: nothing is made there.
  if (targetParent === undefined || stagingParent === undefined) return;
  // One directory under two spellings: the same parent, the same name.
  if (sameLocation(targetParent, stagingParent) && basename(target) === basename(staging)) throw throughAlias();
  // The target's parent inside the staged volume (or the directory it is staged at).
  const staged = locationShownAt(table, staging);
  if (staged !== undefined && isLocatedWithin(targetParent, staged)) throw throughAlias();
  // The staging path inside the target. A target that shows the staged volume itself is a
  // repeat publish, left to say so; the staging path lies inside that only in a volume that
  // holds kubelet's own directory, which the check above refused.
  const shown = locationShownAt(table, target);
  if (shown !== undefined && !(staged !== undefined && sameLocation(shown, staged)) && isLocatedWithin(stagingParent, shown)) throw throughAlias();
}

function sameLocation(a: FilesystemLocation, b: FilesystemLocation): boolean {
  return a.device === b.device && a.path === b.path;
}
