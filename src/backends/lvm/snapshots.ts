import { SharemountError, invalidArgument, isSharemountError } from '../../errors.js';
import type { ContentSource, CreateSnapshotRequest, ListedVolume, ProvisionedSnapshot } from '../../backend.js';
import { lvSnapshotArgs, lvremoveArgs, lvsAllArgs } from './commands.js';
import { parseLvReport, parseLvTime, type LvRow } from './reports.js';
import { lvNameOf } from './names.js';
import { formatVolumeId, parseVolumeId } from './schemas.js';
import type { LvmProvisioner } from './provisioning.js';

/*
 * LVM snapshots (docs/backends/lvm.md): `lvcreate --snapshot` of the volume's LV, thin in its
 * pool for a thin LV, thick (copy-on-write space of the origin's size, so it never fills) for a
 * linear one. Tags say what an LV is: `<owner>.snapshot` and `<owner>.source=<lv>` on a snapshot
 * (the origin may be gone: a thin snapshot outlives it), `<owner>.from-snapshot=<lv>` or
 * `<owner>.from-volume=<lv>` on a volume made from one. A volume is made from a snapshot or a
 * volume only in a thin pool (a thin snapshot of it, made writable and active like any LV): a
 * linear LV would need a block copy, which this backend does not do (INVALID_ARGUMENT).
 */

const tag = (p: LvmProvisioner, what: string) => `${p.ownerTag}.${what}`;

/** Whether the LV is a snapshot this backend made. */
export function isSnapshot(p: LvmProvisioner, row: LvRow): boolean {
  return row.lv_tags.includes(tag(p, 'snapshot'));
}

function taggedValue(p: LvmProvisioner, row: LvRow, key: string): string | undefined {
  const prefix = `${tag(p, key)}=`;
  return row.lv_tags.find((t) => t.startsWith(prefix))?.slice(prefix.length);
}

/** What a volume LV was made from, by the tags its creation put on it. */
export function contentSourceOf(p: LvmProvisioner, row: LvRow): ContentSource | undefined {
  const snapshot = taggedValue(p, row, 'from-snapshot');
  if (snapshot !== undefined) return { snapshotId: formatVolumeId(row.vg_name, snapshot) };
  const volume = taggedValue(p, row, 'from-volume');
  return volume === undefined ? undefined : { volumeId: formatVolumeId(row.vg_name, volume) };
}

/** The tag a volume made from `source` carries. */
export function contentSourceTag(p: LvmProvisioner, source: ContentSource): string {
  return 'snapshotId' in source ? `${tag(p, 'from-snapshot')}=${parseVolumeId(source.snapshotId).lv}` : `${tag(p, 'from-volume')}=${parseVolumeId(source.volumeId).lv}`;
}

/**
 * The LV a new volume copies: the source's row, checked to be a thin LV of this backend in
 * `vg` and `pool`. NOT_FOUND for no such snapshot or volume, INVALID_ARGUMENT for one that
 * cannot be the source of a volume here.
 */
export function cloneSource(p: LvmProvisioner, rows: readonly LvRow[], source: ContentSource, vg: string, pool: string | undefined): LvRow {
  const kind = 'snapshotId' in source ? 'snapshot' : 'volume';
  let where: { vg: string; lv: string };
  try {
    where = parseVolumeId('snapshotId' in source ? source.snapshotId : source.volumeId);
  } catch {
    throw new SharemountError('NOT_FOUND', `no ${kind} ${'snapshotId' in source ? source.snapshotId : source.volumeId}`, { field: 'volume_content_source' });
  }
  const row = rows.find((r) => r.vg_name === where.vg && r.lv_name === where.lv);
  if (row === undefined || !row.lv_tags.includes(p.ownerTag) || isSnapshot(p, row) !== (kind === 'snapshot')) {
    throw new SharemountError('NOT_FOUND', `no ${kind} ${where.vg}/${where.lv}`, { field: 'volume_content_source' });
  }
  if (where.vg !== vg) throw invalidArgument('volume_content_source', `is in volume group ${where.vg}; a volume of ${vg} is made from one of its own group only`);
  if (row.pool_lv === '') throw invalidArgument('volume_content_source', `${where.vg}/${where.lv} is not thin: a volume is made from a linear LV or its snapshot by a block copy, which this backend does not do (use thin volumes)`);
  if (pool !== undefined && row.pool_lv !== pool) throw invalidArgument('volume_content_source', `${where.vg}/${where.lv} is in thin pool ${row.pool_lv}, not ${pool}`);
  return row;
}

export async function createLvmSnapshot(p: LvmProvisioner, request: CreateSnapshotRequest, readLvs: (vg: string) => Promise<LvRow[]>): Promise<ProvisionedSnapshot> {
  const notFound = () => new SharemountError('NOT_FOUND', `no LVM volume ${request.sourceVolumeId}`, { field: 'source_volume_id' });
  let source: { vg: string; lv: string };
  try {
    source = parseVolumeId(request.sourceVolumeId);
  } catch {
    throw notFound();
  }
  const rows = await readLvs(source.vg).catch((error: unknown) => {
    throw isSharemountError(error, 'NOT_FOUND') ? notFound() : error;
  });
  const origin = rows.find((r) => r.lv_name === source.lv);
  if (origin === undefined || !origin.lv_tags.includes(p.ownerTag) || isSnapshot(p, origin)) throw notFound();
  const name = lvNameOf(request.name, source.vg, 124);
  let existing = rows.find((r) => r.lv_name === name);
  if (existing === undefined) {
    const thin = origin.pool_lv !== '';
    await p.lvm('lvcreate', lvSnapshotArgs({ vg: source.vg, origin: source.lv, name, ...(thin ? {} : { cowBytes: origin.lv_size }), tags: [p.ownerTag, tag(p, 'snapshot'), `${tag(p, 'source')}=${source.lv}`] }), { vg: source.vg, lv: name });
    existing = (await readLvs(source.vg)).find((r) => r.lv_name === name);
    if (existing === undefined) throw new SharemountError('INTERNAL', `lvcreate --snapshot succeeded but ${source.vg}/${name} is not listed`);
  }
  if (!isSnapshot(p, existing)) throw new SharemountError('ALREADY_EXISTS', `${source.vg}/${name} exists and is not a snapshot`, { field: 'name' });
  if (taggedValue(p, existing, 'source') !== source.lv) throw new SharemountError('ALREADY_EXISTS', `snapshot ${request.name} exists with another source volume`, { field: 'name' });
  return asSnapshot(p, existing);
}

/** `lvremove` of a snapshot this backend made; anything else (gone, never one) is a success that touches nothing. */
export async function deleteLvmSnapshot(p: LvmProvisioner, snapshotId: string, readLvs: (vg: string) => Promise<LvRow[]>): Promise<void> {
  let where: { vg: string; lv: string };
  try {
    where = parseVolumeId(snapshotId);
  } catch {
    return;
  }
  const rows = await readLvs(where.vg).catch((error: unknown) => (isSharemountError(error, 'NOT_FOUND') ? [] : Promise.reject(error)));
  const row = rows.find((r) => r.lv_name === where.lv);
  if (row === undefined || !isSnapshot(p, row)) return;
  await p.lvm('lvremove', lvremoveArgs(where.vg, where.lv), where);
}

export async function listLvmSnapshots(p: LvmProvisioner, filter: { snapshotId?: string; sourceVolumeId?: string }): Promise<ProvisionedSnapshot[]> {
  return (await allLvs(p))
    .filter((row) => isSnapshot(p, row))
    .map((row) => asSnapshot(p, row))
    .filter((s) => (filter.snapshotId === undefined || s.snapshotId === filter.snapshotId) && (filter.sourceVolumeId === undefined || s.sourceVolumeId === filter.sourceVolumeId));
}

/** Every LV with the owner tag that is no snapshot, with what createVolume would answer of it. */
export async function listLvmVolumes(p: LvmProvisioner): Promise<ListedVolume[]> {
  return (await allLvs(p))
    .filter((row) => row.lv_tags.includes(p.ownerTag) && !isSnapshot(p, row))
    .map((row) => {
      const source = contentSourceOf(p, row);
      const context: Record<string, string> = { volumeGroup: row.vg_name, logicalVolume: row.lv_name };
      if (row.pool_lv !== '') context.thin = row.pool_lv;
      return { volumeId: formatVolumeId(row.vg_name, row.lv_name), capacityBytes: row.lv_size, context, ...(source ? { contentSource: source } : {}) };
    });
}

async function allLvs(p: LvmProvisioner): Promise<LvRow[]> {
  return parseLvReport(await p.lvm('lvs', lvsAllArgs()));
}

function asSnapshot(p: LvmProvisioner, row: LvRow): ProvisionedSnapshot {
  const source = taggedValue(p, row, 'source') ?? row.origin;
  return { snapshotId: formatVolumeId(row.vg_name, row.lv_name), sourceVolumeId: formatVolumeId(row.vg_name, source), sizeBytes: row.lv_size, creationTime: parseLvTime(row.lv_time), readyToUse: true };
}
