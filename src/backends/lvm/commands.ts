import { lvFields, pvFields, segmentFields, vgFields } from './reports.js';

/**
 * argv for each lvm2 command the backend runs, built without side effects so that tests can check
 * them whole (thin-pool commands cannot run on a machine without device-mapper). Names are
 * validated before they get here; each is still passed after `--`, so none can be read as an
 * option, and sizes are exact byte counts (`<n>b`) that lvm2 rounds up to whole extents.
 */
export interface LvcreateRequest {
  vg: string;
  lv: string;
  sizeBytes: number;
  /** A thin pool in `vg`: the LV is thin, `sizeBytes` its virtual size. */
  thinPool?: string;
  tags: readonly string[];
}

const report = (fields: readonly string[]) => ['--reportformat', 'json', '--units', 'b', '--nosuffix', '--options', fields.join(',')];

/** `lvcreate`: linear, or thin in a named pool; old signatures on the new extents are wiped. */
export function lvcreateArgs(request: LvcreateRequest): string[] {
  const args = ['--name', request.lv];
  if (request.thinPool !== undefined) {
    args.push('--type', 'thin', '--virtualsize', `${request.sizeBytes}b`, '--thinpool', request.thinPool);
  } else {
    // --zero y clears the first 4 KiB: a new LV on the extents of a deleted one must not show the
    // old filesystem, or the first mount would adopt someone else's data instead of formatting.
    args.push('--type', 'linear', '--size', `${request.sizeBytes}b`, '--zero', 'y');
  }
  args.push('--wipesignatures', 'y', '--yes');
  for (const tag of request.tags) args.push('--addtag', tag);
  args.push('--', request.vg);
  return args;
}

/** `lvextend` to `sizeBytes` (lvm2 refuses to shrink with it). The filesystem is grown separately. */
export function lvextendArgs(vg: string, lv: string, sizeBytes: number): string[] {
  return ['--size', `${sizeBytes}b`, '--', `${vg}/${lv}`];
}

/** `lvremove` without a prompt (the caller has checked that nothing mounts the LV). */
export function lvremoveArgs(vg: string, lv: string): string[] {
  return ['--yes', '--', `${vg}/${lv}`];
}

/** `lvchange` activating the LV, so that `/dev/<vg>/<lv>` exists. */
export function lvActivateArgs(vg: string, lv: string): string[] {
  return ['--activate', 'y', '--', `${vg}/${lv}`];
}

/** `vgs` report of one VG. */
export function vgsArgs(vg: string): string[] {
  return [...report(vgFields), '--', vg];
}

/** `lvs` report of every LV in a VG (one call tells "no such VG" from "no such LV"). */
export function lvsArgs(vg: string): string[] {
  return [...report(lvFields), '--', vg];
}

/** `pvs` report of every PV lvm2 sees (pvs takes PV names, not VGs: filter rows by `vg_name`). */
export function pvsArgs(): string[] {
  return report(pvFields);
}

/** `lvs --segments` report of one LV: where its extents lie. */
export function segmentsArgs(vg: string, lv: string): string[] {
  return ['--segments', ...report(segmentFields), '--', `${vg}/${lv}`];
}

/** What `lvcreate --snapshot` makes: a snapshot of `origin`, or a writable thin LV from a thin LV or snapshot (a clone). */
export interface LvSnapshotRequest {
  vg: string;
  origin: string;
  name: string;
  /** A linear origin's copy-on-write space (a thick snapshot); absent for a thin origin (a thin snapshot, in its pool). */
  cowBytes?: number;
  /** false for a clone: activated like any LV (thin snapshots skip activation by default). */
  activationSkip?: boolean;
  tags: readonly string[];
}

/** `lvcreate --snapshot`: thick (with `--size`) for a linear origin, thin for a thin one. */
export function lvSnapshotArgs(request: LvSnapshotRequest): string[] {
  const args = ['--snapshot', '--name', request.name];
  if (request.cowBytes !== undefined) args.push('--size', `${request.cowBytes}b`);
  if (request.activationSkip === false) args.push('--setactivationskip', 'n');
  args.push('--yes');
  for (const tag of request.tags) args.push('--addtag', tag);
  args.push('--', `${request.vg}/${request.origin}`);
  return args;
}

/** `lvs` report of every LV of every VG lvm2 sees (the listings). */
export function lvsAllArgs(): string[] {
  return report(lvFields);
}
