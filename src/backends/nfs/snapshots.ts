import { SharemountError, invalidArgument } from '../../errors.js';
import type { ContentSource, CreateSnapshotRequest, ListedVolume, ProvisionedSnapshot } from '../../backend.js';
import { readSmallFiles } from '../../directory-commands.js';
import { liveVolume, parseVolumeRecord, volumeRecordsDir } from '../../volume-records.js';
import { deleteDirectorySnapshot, findDirectorySnapshot, listDirectorySnapshots, snapshotDirectory, snapshotSource } from '../../snapshots/directory-snapshots.js';
import type { SnapshotRecord } from '../../snapshots/snapshot-records.js';
import { directoryOf } from '../bind/provisioning.js';
import { splitShare } from './parameters.js';
import type { NfsProvisioner } from './provisioner.js';
import { canonicalExport, canonicalServer } from './source.js';
import { fittedLocation, formatVolumeId, parseVolumeId, type NfsVolumeLocation } from './volume-id.js';

/*
 * Snapshots and listings of NFS volumes (docs/snapshots.md): a snapshot is a copy of the
 * volume's sub-directory in `.sharemount-snapshots/` of the same export, made through the
 * controller's publication of the export. A snapshot id has a volume id's form,
 * `server#export#<snapshot directory>`, so that DeleteSnapshot finds the export from it alone.
 */

export async function createNfsSnapshot(p: NfsProvisioner, request: CreateSnapshotRequest): Promise<ProvisionedSnapshot> {
  const source = parsedOrNotFound(request.sourceVolumeId, 'source_volume_id');
  const snapshot = fittedLocation(source.server, source.export, directoryOf(request.name));
  const snapshotId = formatVolumeId(snapshot);
  return p.directoryLock.withLock(`snapshot:${snapshotId}`, () => p.withExportRoot(source, mountOptions(p), async (root) => {
    const live = liveVolume(await p.readRecord(root, source.name));
    if (live === undefined) throw new SharemountError('NOT_FOUND', `no NFS volume ${request.sourceVolumeId}`, { field: 'source_volume_id' });
    const record = await snapshotDirectory(root, { name: request.name, snapshotDir: snapshot.name, volumeDir: source.name, sourceVolumeId: request.sourceVolumeId, sizeBytes: live.capacityBytes }, p.copies);
    return asSnapshot(snapshotId, record);
  }));
}

export async function deleteNfsSnapshot(p: NfsProvisioner, snapshotId: string): Promise<void> {
  const snapshot = parsed(snapshotId);
  if (snapshot === undefined) return;
  await p.directoryLock.withLock(`snapshot:${snapshotId}`, () => p.withExportRoot(snapshot, mountOptions(p), (root) => deleteDirectorySnapshot(root, snapshot.name, p.copies)));
}

export async function listNfsSnapshots(p: NfsProvisioner, filter: { snapshotId?: string; sourceVolumeId?: string }): Promise<ProvisionedSnapshot[]> {
  const matches = (record: SnapshotRecord) => filter.sourceVolumeId === undefined || record.sourceVolumeId === filter.sourceVolumeId;
  if (filter.snapshotId !== undefined) {
    const snapshot = parsed(filter.snapshotId);
    if (snapshot === undefined) return [];
    const record = await p.withExportRoot(snapshot, mountOptions(p), (root) => findDirectorySnapshot(root, snapshot.name, p.commandTimeoutMs));
    return record !== undefined && matches(record) ? [asSnapshot(filter.snapshotId, record)] : [];
  }
  const exports = filter.sourceVolumeId === undefined ? listedExports(p) : [parsed(filter.sourceVolumeId)].filter((e) => e !== undefined);
  const lists = await Promise.all(exports.map((where) => p.withExportRoot({ ...where, name: '' }, mountOptions(p), async (root) => {
    const found = await listDirectorySnapshots(root, p.commandTimeoutMs, p.logger);
    return [...found].filter(([, record]) => matches(record)).map(([dir, record]) => asSnapshot(formatVolumeId({ server: where.server, export: where.export, name: dir }), record));
  })));
  return lists.flat();
}

export async function listNfsVolumes(p: NfsProvisioner): Promise<ListedVolume[]> {
  const options = mountOptions(p);
  const lists = await Promise.all(listedExports(p).map((where) => p.withExportRoot({ ...where, name: '' }, options, async (root) => {
    const volumes: ListedVolume[] = [];
    for (const [file, text] of await readSmallFiles(`${root}/${volumeRecordsDir}`, '.json', p.commandTimeoutMs)) {
      const name = file.slice(0, -'.json'.length);
      const location = parsed(`${where.server}#${where.export}#${name}`);
      const record = location && liveVolume(parseVolumeRecord(text, name));
      if (location === undefined || record === undefined) continue;
      const context: Record<string, string> = { server: where.server, share: where.export, subPath: name };
      if (options.length > 0) context.mountOptions = options.join(',');
      volumes.push({ volumeId: formatVolumeId(location), capacityBytes: record.capacityBytes, context, ...(record.contentSource ? { contentSource: record.contentSource } : {}) });
    }
    return volumes;
  })));
  return lists.flat();
}

/** Where a new volume of export `location` copies its content from: a snapshot or a volume of the same export. */
export function contentSourcePath(root: string, location: NfsVolumeLocation, source: ContentSource): { parent: string; name: string } {
  const id = 'snapshotId' in source ? source.snapshotId : source.volumeId;
  const from = parsedOrNotFound(id, 'volume_content_source');
  if (from.server !== location.server || from.export !== location.export) {
    throw invalidArgument('volume_content_source', `is on export ${from.server}:${from.export}; a volume of ${location.server}:${location.export} is made from a source on the same export only`);
  }
  return 'snapshotId' in source ? snapshotSource(root, from.name) : { parent: root, name: from.name };
}

function asSnapshot(snapshotId: string, record: SnapshotRecord): ProvisionedSnapshot {
  return { snapshotId, sourceVolumeId: record.sourceVolumeId, sizeBytes: record.sizeBytes, creationTime: record.creationTime, readyToUse: record.readyToUse };
}

function parsed(id: string): NfsVolumeLocation | undefined {
  try {
    return parseVolumeId(id);
  } catch {
    return undefined;
  }
}

function parsedOrNotFound(id: string, field: string): NfsVolumeLocation {
  const location = parsed(id);
  if (location === undefined) throw new SharemountError('NOT_FOUND', `${field}: no NFS volume or snapshot ${id}`, { field });
  return location;
}

function mountOptions(p: NfsProvisioner): readonly string[] {
  return p.options.idOnlyDefaults?.mountOptions ?? [];
}

/** The exports of `listedExports`, canonical; one that does not parse is refused naming it. */
function listedExports(p: NfsProvisioner): Array<{ server: string; export: string }> {
  return (p.options.listedExports ?? []).map((share, i) => {
    const split = splitShare(share);
    const server = split && canonicalServer(split.server);
    const exported = split && canonicalExport(split.export);
    if (!server || 'problem' in server || !exported || 'problem' in exported) throw invalidArgument(`provisioner.listedExports[${i}]`, 'must be server:/export');
    return { server: server.server, export: exported.export };
  });
}
