import { SharemountError, invalidArgument, isSharemountError } from '../../errors.js';
import type { CreateVolumeRequest, ProvisionedVolume } from '../../backend.js';
import { checkCapacityFits, checkCapacityRange, type CapacityRange } from '../../capacity-range.js';
import { lvcreateArgs, lvextendArgs, lvremoveArgs, lvSnapshotArgs, lvsArgs, vgsArgs } from './commands.js';
import { cloneSource, contentSourceOf, contentSourceTag, isSnapshot } from './snapshots.js';
import { parseLvReport, parseVgReport, type LvRow, type VgRow } from './reports.js';
import { formatVolumeId, parseLvmParameters, parseVolumeId, type LvmParameters } from './schemas.js';
import { lvNameOf } from './names.js';
import { bindsOfDeviceNode, mountsOfDevice, type LvmDeviceResolver } from './device.js';
import { readMountInfo } from '../../mountinfo.js';
import { growMounted, growUnmounted, probeDevice } from './filesystem.js';
import type { FsType } from './mkfs-options.js';
import type { LvmCli } from './lvm-cli.js';

/** What the provisioning operations share: lvm2, the device resolver, bounds, the owner tag. */
export interface LvmProvisioner {
  lvm: LvmCli;
  devices: LvmDeviceResolver;
  /** Tag put on every LV this backend creates; deleteVolume removes only LVs that carry it. */
  ownerTag: string;
  timeouts: { commandMs: number; fsckMs: number };
}

// CSI limits volume ids to 128 bytes, and the CSI shim prefixes `lvm:` (sharemount/csi volume-id.ts).
export const maxVolumeIdBytes = 124;

/**
 * `lvcreate`, idempotent by LV name: an LV of that name in the same pool, with at least the size
 * asked and at most the limit, is the volume asked for; any other is ALREADY_EXISTS.
 */
export async function createVolume(p: LvmProvisioner, request: CreateVolumeRequest<unknown>): Promise<ProvisionedVolume> {
  const params = parseLvmParameters(request.parameters);
  if (typeof request.name !== 'string' || request.name === '') throw invalidArgument('name', 'is required');
  const lv = lvNameOf(request.name, params.volumeGroup, maxVolumeIdBytes);
  const volumeId = formatVolumeId(params.volumeGroup, lv);
  const sizeBytes = requestedBytes(request, params.size);
  const vg = params.volumeGroup;
  const group = await readVg(p, vg);
  const wantedBytes = sizeInExtents(sizeBytes, group.vg_extent_size, request);
  const lvs = await readLvs(p, vg);
  if (params.thin !== undefined) requireThinPool(lvs, vg, params.thin);
  let existing = lvs.find((row) => row.lv_name === lv);
  const source = request.contentSource && cloneSource(p, lvs, request.contentSource, vg, params.thin);
  if (existing === undefined && source !== undefined) {
    // A thin snapshot of the source, made writable and active like any LV: the clone.
    await p.lvm('lvcreate', lvSnapshotArgs({ vg, origin: source.lv_name, name: lv, activationSkip: false, tags: [p.ownerTag, contentSourceTag(p, request.contentSource!), ...params.tags] }), { vg, lv, thin: source.pool_lv });
    existing = (await readLvs(p, vg)).find((row) => row.lv_name === lv);
    if (existing !== undefined && existing.lv_size < wantedBytes) {
      await p.lvm('lvextend', lvextendArgs(vg, lv, wantedBytes), { vg, lv, thin: source.pool_lv });
      existing = (await readLvs(p, vg)).find((row) => row.lv_name === lv);
    }
    if (existing === undefined) throw new SharemountError('INTERNAL', `lvcreate --snapshot succeeded but ${volumeId} is not listed`);
  }
  if (existing === undefined) {
    try {
      await p.lvm('lvcreate', lvcreateArgs({ vg, lv, sizeBytes: wantedBytes, thinPool: params.thin, tags: [p.ownerTag, ...params.tags] }), { vg, lv, thin: params.thin });
    } catch (error) {
      // Another caller created it between our look and lvcreate: judge its LV as if it had been there.
      if (!(error instanceof SharemountError && error.code === 'ALREADY_EXISTS')) throw error;
    }
    existing = (await readLvs(p, vg)).find((row) => row.lv_name === lv);
    if (existing === undefined) throw new SharemountError('INTERNAL', `lvcreate succeeded but ${volumeId} is not listed`);
  }
  if (isSnapshot(p, existing)) throw new SharemountError('ALREADY_EXISTS', `${volumeId} is a snapshot, not a volume`, { field: 'name' });
  const made = contentSourceOf(p, existing);
  if (JSON.stringify(made) !== JSON.stringify(request.contentSource)) {
    throw new SharemountError('ALREADY_EXISTS', `logical volume ${volumeId} exists, made from ${JSON.stringify(made ?? 'nothing')}, not ${JSON.stringify(request.contentSource ?? 'nothing')} as asked`, { field: 'name' });
  }
  if (existing.pool_lv !== (params.thin ?? (source?.pool_lv ?? ''))) {
    const pool = existing.pool_lv === '' ? 'linear' : `thin in pool ${existing.pool_lv}`;
    throw new SharemountError('ALREADY_EXISTS', `logical volume ${volumeId} exists ${pool}, not ${params.thin ? `thin in pool ${params.thin}` : 'linear'} as asked`, { field: 'name' });
  }
  // The size asked (the request's, else the parameters', as rounded to fit the limit) is the
  // least it may have: one grown since still answers its own retry. A limit alone bounds it
  // from above only.
  const least = request.capacityBytes ?? (params.size === undefined ? undefined : Math.min(sizeBytes, wantedBytes));
  checkCapacityFits(`logical volume ${volumeId}`, existing.lv_size, {
    ...(least === undefined ? {} : { capacityBytes: least }),
    ...(request.capacityLimitBytes === undefined ? {} : { capacityLimitBytes: request.capacityLimitBytes }),
  });
  return { volumeId, capacityBytes: existing.lv_size, context: publishContext(params, lv) };
}

/**
 * Throws unless the LV carries the owner tag (made by createVolume, or tagged by an
 * administrator with `lvchange --addtag`): NOT_FOUND for a missing LV, FAILED_PRECONDITION for
 * an LV of the node's own (`vg0/root`), which a volume's options must not be able to name.
 */
export async function requireOwned(p: LvmProvisioner, vg: string, lv: string): Promise<void> {
  const row = await readLv(p, vg, lv).catch((error: unknown) => {
    throw isSharemountError(error, 'NOT_FOUND') ? new SharemountError('NOT_FOUND', error.message, { field: 'logicalVolume' }) : error;
  });
  if (!row.lv_tags.includes(p.ownerTag)) {
    throw new SharemountError('FAILED_PRECONDITION', `logicalVolume: ${vg}/${lv} does not carry the tag "${p.ownerTag}", so this driver does not mount it: an administrator tags it (lvchange --addtag ${p.ownerTag}) to serve it, or sets the LVM backend's option mountAnyLogicalVolume to serve any LV`, { field: 'logicalVolume' });
  }
}

/**
 * `lvremove`, only for an LV this backend created (it carries the owner tag) and only when no
 * mount in this namespace shows its filesystem. A missing LV is success (deletes are retried);
 * a missing VG is NOT_FOUND, since its LVs may come back with it.
 */
export async function deleteVolume(p: LvmProvisioner, volumeId: string, parameters: unknown): Promise<void> {
  const { vg, lv } = parseVolumeId(volumeId, defaultVg(parameters));
  const rows = await readLvs(p, vg);
  const row = rows.find((r) => r.lv_name === lv);
  if (row === undefined || isSnapshot(p, row)) return; // a snapshot is no volume: DeleteSnapshot removes it
  // A thick snapshot lives in its origin (lvremove would take it along): the volume waits for
  // its snapshots. A thin snapshot is an LV of its own in the pool and outlives its origin.
  const dependents = rows.filter((r) => r.origin === lv && isSnapshot(p, r) && row.pool_lv === '');
  if (dependents.length > 0) {
    throw new SharemountError('FAILED_PRECONDITION', `logical volume ${vg}/${lv} has ${dependents.length} snapshot(s) (${dependents.map((r) => r.lv_name).join(', ')}) that live in it; delete them first`, { field: 'volumeId' });
  }
  if (!row.lv_tags.includes(p.ownerTag)) {
    throw new SharemountError('FAILED_PRECONDITION', `logical volume ${vg}/${lv} does not carry the tag "${p.ownerTag}": it was not created by this backend, so it is not removed`, { field: 'volumeId' });
  }
  await refuseIfMounted(p, vg, lv, 'remove');
  await p.lvm('lvremove', lvremoveArgs(vg, lv), { vg, lv });
}

/**
 * The LV a volume id names, or undefined when there is none: an id that does not parse, a VG or
 * an LV that does not exist. Its context is enough to publish it (the filesystem is whatever
 * the device holds).
 */
export async function describeVolume(p: LvmProvisioner, volumeId: string): Promise<{ capacityBytes: number; context: Record<string, string> } | undefined> {
  let vg: string;
  let lv: string;
  try {
    ({ vg, lv } = parseVolumeId(volumeId));
  } catch {
    return undefined;
  }
  let rows: LvRow[];
  try {
    rows = await readLvs(p, vg);
  } catch (error) {
    if (isSharemountError(error, 'NOT_FOUND')) return undefined; // the VG
    throw error;
  }
  const row = rows.find((r) => r.lv_name === lv);
  return row && !isSnapshot(p, row) ? { capacityBytes: row.lv_size, context: { volumeGroup: vg, logicalVolume: lv } } : undefined;
}

/**
 * `lvextend` to at least `capacityBytes` (never shrinks), then grows the filesystem: online
 * when it is mounted here, offline otherwise. Growing again when the LV already has the size
 * is harmless, so a retry after a failed growth finishes the job.
 */
export async function expandVolume(p: LvmProvisioner, volumeId: string, capacityBytes: number, parameters: unknown, { filesystem = true }: { filesystem?: boolean } = {}): Promise<{ capacityBytes: number }> {
  const { vg, lv } = parseVolumeId(volumeId, defaultVg(parameters));
  const sizeBytes = requestedBytes({ capacityBytes }, undefined);
  const group = await readVg(p, vg);
  let row = await readLv(p, vg, lv);
  const wantedBytes = roundUp(sizeBytes, group.vg_extent_size);
  if (row.lv_size < wantedBytes) {
    await p.lvm('lvextend', lvextendArgs(vg, lv, wantedBytes), { vg, lv, thin: row.pool_lv || undefined });
    row = await readLv(p, vg, lv);
  }
  // A raw block volume's filesystem, if its user made one, is the user's to grow.
  if (filesystem) await growFilesystem(p, vg, lv);
  return { capacityBytes: row.lv_size };
}

/** Free bytes for new volumes: the VG's free space, or what the thin pool has not yet used. */
export async function capacity(p: LvmProvisioner, parameters: unknown): Promise<{ availableBytes: number }> {
  const params = parseLvmParameters(parameters);
  const vg = params.volumeGroup;
  if (params.thin === undefined) return { availableBytes: (await readVg(p, vg)).vg_free };
  const pool = requireThinPool(await readLvs(p, vg), vg, params.thin);
  if (pool.data_percent === undefined) {
    throw new SharemountError('FAILED_PRECONDITION', `thin pool ${vg}/${params.thin} is not active, so lvm2 cannot report its usage`, { field: 'thin' });
  }
  return { availableBytes: thinPoolFreeBytes(pool.lv_size, pool.data_percent) };
}

/** Unused bytes of a thin pool of `sizeBytes` that is `usedPercent` full (lvm2 reports 2 decimals). */
export function thinPoolFreeBytes(sizeBytes: number, usedPercent: number): number {
  const usedHundredths = BigInt(Math.round(usedPercent * 100));
  const used = (BigInt(sizeBytes) * usedHundredths + 9_999n) / 10_000n; // round usage up: never promise too much
  return Math.max(0, Number(BigInt(sizeBytes) - used));
}

/** `value` rounded up to a whole number of `unit`s, as lvm2 allocates whole extents. */
export function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}

/** What to publish a created volume with (CSI volume_context): flat strings. */
export function publishContext(params: LvmParameters, lv: string): Record<string, string> {
  const context: Record<string, string> = { volumeGroup: params.volumeGroup, logicalVolume: lv, fsType: params.fsType };
  if (params.mkfsOptions !== undefined) context.mkfsOptions = params.mkfsOptions;
  if (params.thin !== undefined) context.thin = params.thin;
  return context;
}

async function growFilesystem(p: LvmProvisioner, vg: string, lv: string): Promise<void> {
  const active = await p.devices.activeDevicePath(vg, lv);
  const mounts = active === undefined ? [] : await mountsOfDevice(active);
  const device = active ?? (await p.devices.devicePath(vg, lv));
  const found = await probeDevice(device, p.timeouts.commandMs);
  if (found.type !== 'ext4' && found.type !== 'xfs') return; // blank: mkfs will fill the whole LV
  const fsType: FsType = found.type;
  const mounted = mounts.find((m) => m.root === '/') ?? mounts[0];
  if (mounted !== undefined) await growMounted(fsType, device, mounted.mountPoint, p.timeouts.fsckMs);
  else await growUnmounted(fsType, device, { commandMs: p.timeouts.commandMs, checkMs: p.timeouts.fsckMs });
}

async function refuseIfMounted(p: LvmProvisioner, vg: string, lv: string, action: string): Promise<void> {
  const device = await p.devices.activeDevicePath(vg, lv);
  if (device === undefined) return; // an inactive LV has no device anyone could have mounted
  // Its filesystem's mounts, and the binds of its device node (a CSI raw block volume in use).
  const table = await readMountInfo();
  const mounts = [...(await mountsOfDevice(device, table)), ...(await bindsOfDeviceNode(device, table))];
  if (mounts.length === 0) return;
  const where = mounts.slice(0, 3).map((m) => m.mountPoint).join(', ');
  throw new SharemountError('FAILED_PRECONDITION', `logical volume ${vg}/${lv} is mounted (${mounts.length} mount${mounts.length === 1 ? '' : 's'}: ${where}${mounts.length > 3 ? ', ...' : ''}); refusing to ${action} it`, { field: 'volumeId' });
}

async function readVg(p: LvmProvisioner, vg: string): Promise<VgRow> {
  const row = parseVgReport(await p.lvm('vgs', vgsArgs(vg), { vg })).find((r) => r.vg_name === vg);
  if (row === undefined) throw new SharemountError('NOT_FOUND', `volume group ${vg} not found`, { field: 'volumeGroup' });
  return row;
}

export async function readLvs(p: LvmProvisioner, vg: string): Promise<LvRow[]> {
  return parseLvReport(await p.lvm('lvs', lvsArgs(vg), { vg })).filter((r) => r.vg_name === vg);
}

async function readLv(p: LvmProvisioner, vg: string, lv: string): Promise<LvRow> {
  const row = (await readLvs(p, vg)).find((r) => r.lv_name === lv);
  if (row === undefined) throw new SharemountError('NOT_FOUND', `logical volume ${vg}/${lv} not found`, { field: 'volumeId' });
  return row;
}

function requireThinPool(lvs: readonly LvRow[], vg: string, pool: string): LvRow {
  const row = lvs.find((r) => r.lv_name === pool);
  if (row === undefined) throw new SharemountError('NOT_FOUND', `thin pool ${vg}/${pool} not found`, { field: 'thin' });
  if (row.segtype !== 'thin-pool') throw invalidArgument('thin', `${vg}/${pool} is a ${row.segtype} logical volume, not a thin pool`);
  return row;
}

/** The size asked: the request's, else the limit's or the parameters' (the smaller when both). */
function requestedBytes({ capacityBytes, capacityLimitBytes: limit }: CapacityRange, parameterBytes: number | undefined): number {
  checkCapacityRange({ capacityBytes, capacityLimitBytes: limit });
  if (capacityBytes === 0) throw invalidArgument('capacityBytes', 'must be more than 0: a logical volume has at least one extent');
  if (limit === 0) throw invalidArgument('capacityLimitBytes', 'must be more than 0: a logical volume has at least one extent');
  if (capacityBytes !== undefined) return capacityBytes;
  if (parameterBytes === undefined && limit === undefined) throw invalidArgument('parameters.size', 'is required when no capacity is requested');
  return Math.min(parameterBytes ?? Infinity, limit ?? Infinity);
}

/**
 * The size in whole extents: rounded up, or down when up would pass the limit and down still
 * holds the size asked for (when only a limit was given, the size asked is the limit).
 */
function sizeInExtents(sizeBytes: number, extentBytes: number, { capacityBytes, capacityLimitBytes: limit }: CapacityRange): number {
  const up = roundUp(sizeBytes, extentBytes);
  if (limit === undefined || up <= limit) return up;
  const down = Math.floor(limit / extentBytes) * extentBytes;
  if (down > 0 && down >= (capacityBytes ?? 0)) return down;
  throw new SharemountError('OUT_OF_RANGE', `no whole number of ${extentBytes}-byte extents lies between ${capacityBytes ?? 0} and ${limit} bytes`, { field: 'capacityLimitBytes' });
}

function defaultVg(parameters: unknown): string | undefined {
  const vg = (parameters as { volumeGroup?: unknown } | undefined)?.volumeGroup;
  return typeof vg === 'string' ? vg : undefined;
}
