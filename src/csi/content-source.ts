import { SharemountError, invalidArgument } from '../errors.js';
import type { AnyBackend, ContentSource } from '../backend.js';
import type { CapacityRange } from '../capacity-range.js';
import { parseCsiVolumeId } from './volume-id.js';

/** A CreateVolume's `volume_content_source` as gRPC hands it over (oneof `type`). */
export interface CsiContentSource {
  type?: string | undefined;
  snapshot?: { snapshot_id: string } | null | undefined;
  volume?: { volume_id: string } | null | undefined;
}

/**
 * The source a new volume is to be made from, checked as the spec asks: one of this plugin's
 * snapshots or volumes (NOT_FOUND otherwise), of the backend that makes the new volume and that
 * backend able to start from it (INVALID_ARGUMENT otherwise: "source incompatible or not
 * supported"), and a capacity range that holds the source's size (OUT_OF_RANGE otherwise). The
 * range answered asks at least the source's size. Undefined when the request has no source.
 */
export async function checkedContentSource(raw: CsiContentSource | null, backend: AnyBackend, backends: readonly AnyBackend[], range: CapacityRange): Promise<{ source: ContentSource; range: CapacityRange } | undefined> {
  if (raw === null || raw.type === undefined) return undefined;
  const kind = raw.type === 'snapshot' ? 'snapshot' : raw.type === 'volume' ? 'volume' : undefined;
  if (kind === undefined) throw invalidArgument('volume_content_source', `has an unknown type ${raw.type}`);
  const id = kind === 'snapshot' ? raw.snapshot?.snapshot_id : raw.volume?.volume_id;
  const field = kind === 'snapshot' ? 'volume_content_source.snapshot.snapshot_id' : 'volume_content_source.volume.volume_id';
  if (id === undefined || id === '') throw invalidArgument(field, 'is required');
  const found = parseCsiVolumeId(id, backends);
  if (found === undefined) throw new SharemountError('NOT_FOUND', `${field}: no ${kind} ${id}`, { field });
  if (found.backend !== backend) throw invalidArgument(field, `names a ${kind} of backend ${found.backend.name}; a ${backend.name} volume cannot be made from it`);
  if (!backend.contentSources?.includes(kind)) throw invalidArgument('volume_content_source', `backend ${backend.name} cannot make a volume from a ${kind}`);
  const sourceBytes = kind === 'snapshot' ? await snapshotSize(backend, found.volumeId, id, field) : await volumeSize(backend, found.volumeId, id, field);
  const { capacityBytes: least, capacityLimitBytes: most } = range;
  if (least !== undefined && least < sourceBytes) throw new SharemountError('OUT_OF_RANGE', `capacity_range: required_bytes (${least}) is less than the ${sourceBytes} bytes of ${kind} ${id}`, { field: 'capacity_range' });
  if (most !== undefined && most < sourceBytes) throw new SharemountError('OUT_OF_RANGE', `capacity_range: limit_bytes (${most}) is less than the ${sourceBytes} bytes of ${kind} ${id}`, { field: 'capacity_range' });
  const source: ContentSource = kind === 'snapshot' ? { snapshotId: found.volumeId } : { volumeId: found.volumeId };
  return { source, range: { ...range, ...(sourceBytes > (least ?? 0) ? { capacityBytes: sourceBytes } : {}) } };
}

/** The source as a CreateVolumeResponse's `content_source` repeats it. */
export function csiContentSource(raw: CsiContentSource) {
  return raw.type === 'snapshot' ? { snapshot: { snapshot_id: raw.snapshot!.snapshot_id } } : { volume: { volume_id: raw.volume!.volume_id } };
}

async function snapshotSize(backend: AnyBackend, snapshotId: string, csiId: string, field: string): Promise<number> {
  const [snapshot] = backend.listSnapshots ? await backend.listSnapshots({ snapshotId }) : [];
  if (snapshot === undefined) throw new SharemountError('NOT_FOUND', `${field}: no snapshot ${csiId}`, { field });
  if (!snapshot.readyToUse) throw new SharemountError('FAILED_PRECONDITION', `${field}: snapshot ${csiId} is not ready to use yet`, { field });
  return snapshot.sizeBytes;
}

async function volumeSize(backend: AnyBackend, volumeId: string, csiId: string, field: string): Promise<number> {
  const described = backend.describeVolume ? await backend.describeVolume(volumeId) : undefined;
  if (described === undefined) throw new SharemountError('NOT_FOUND', `${field}: no volume ${csiId}`, { field });
  return described.capacityBytes ?? 0;
}
