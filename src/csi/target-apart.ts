import { basename, dirname } from 'node:path';
import { invalidArgument, isSharemountError } from '../errors.js';
import { isBrokenMountError } from '../broken-mount.js';
import { isInside, placeOfChildBounded, placeOfPath, type Place } from '../identity.js';
import { isWithin } from '../target.js';
import { Deadline } from '../timeout.js';

/**
 * NodePublishVolume's target must lie outside the staging path, and the staging path outside
 * the target: one inside the other would mount the volume into itself, or make the target in
 * the volume's data. The path strings are compared first (the usual mistake, answered without
 * a system call), then the directories by identity (identity.ts), since another path to them
 * (a bind mount of kubelet's directory elsewhere) spells them differently.
 *
 * Both paths' parents are kubelet's local directories, already walked synchronously by
 * `checkedPath`, and placed synchronously. The staging path is the staged share's mount and the
 * target may be an earlier publication of it: those two are opened and stat'ed in libuv's
 * threads, bounded by `fsMs`.
 */
export async function checkTargetApartFromStaging(staging: string, target: string, fsMs: number): Promise<void> {
  const refuse = (how = '') => invalidArgument('target_path', `must lie outside staging_target_path ${staging}, and it outside the target${how}`);
  if (isWithin(target, staging) || isWithin(staging, target)) throw refuse();
  const throughAlias = ' (it does, through another path to it)';
  const targetParent = placeOfPath(dirname(target));
  const stagingParent = placeOfPath(dirname(staging));
  // One directory under two spellings: the same parent, the same name.
  if (sameDirectory(targetParent, stagingParent) && basename(target) === basename(staging)) throw refuse(throughAlias);
  // The two mounts side by side, under one bound.
  const deadline = new Deadline(fsMs);
  const bound = <T>(work: Promise<T>) => deadline.bound(work, 'checking staging_target_path and target_path');
  const [stagingPlace, targetPlace] = await Promise.all([placeUnlessBroken(stagingParent, basename(staging), bound), placeUnlessBroken(targetParent, basename(target), bound)]).finally(() => deadline.clear());
  // The target's parent inside the staged volume: its walk up passes through the volume's root.
  if (stagingPlace !== undefined && isInside(targetParent, stagingPlace)) throw refuse(throughAlias);
  // The staging path inside the target: its parent is the target or lies inside it. The
  // staging path itself is left out: a repeat publish's target shows the very same directory.
  if (targetPlace !== undefined && isInside(stagingParent, targetPlace)) throw refuse(throughAlias);
}

/**
 * A directory that is missing, or a broken mount, holds nothing a walk could reach (a walk
 * through a broken mount fails): nothing lies inside it, and publish answers for it itself.
 */
async function placeUnlessBroken(parent: Place, name: string, bound: <T>(work: Promise<T>) => Promise<T>): Promise<Place | undefined> {
  return placeOfChildBounded(parent, name, bound).catch((error: unknown) => {
    if (isBrokenMountError(error) || (isSharemountError(error) && error.code === 'BROKEN_MOUNT')) return undefined;
    throw error;
  });
}

function sameDirectory(a: Place, b: Place): boolean {
  const [x, y] = [a.chain[0]!, b.chain[0]!];
  return x.dev === y.dev && x.ino === y.ino;
}
