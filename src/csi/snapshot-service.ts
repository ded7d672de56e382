import { SharemountError, invalidArgument } from '../errors.js';
import type { AnyBackend, ProvisionedSnapshot } from '../backend.js';
import { parseRequest } from './requests.js';
import { createSnapshotRequest, deleteSnapshotRequest, listSnapshotsRequest } from './snapshot-requests.js';
import type { CallInfo, ServiceContext } from './service-context.js';
import { csiVolumeId, parseCsiVolumeId } from './volume-id.js';
import { pageOf } from './list-pages.js';
import { snapshotBackends } from './backend-abilities.js';
import { accountCopies } from '../copy-accounting.js';
import { copyListener } from './metrics.js';

/**
 * The Controller's snapshot calls, on the backends that snapshot (bind and NFS: a copy of the
 * directory tree; LVM: lvcreate --snapshot). A snapshot id is `<backend>:<the backend's id>`, as
 * a volume id is. Served (and CREATE_DELETE_SNAPSHOT, LIST_SNAPSHOTS advertised) when a
 * provisioning backend snapshots; a volume of a backend that does not is INVALID_ARGUMENT.
 */
export function snapshotService({ options, queue, logger, metrics }: ServiceContext): Record<string, (raw: unknown, call: CallInfo) => Promise<object>> {
  const backends = options.backends;
  const snapshotting = snapshotBackends(backends);
  if (snapshotting.length === 0) return {};

  return {
    async CreateSnapshot(raw: unknown, call: CallInfo) {
      const request = parseRequest(createSnapshotRequest, raw);
      // Keys with a "/" are the CO's (csi-snapshotter's --extra-create-metadata): ignored. No other is known.
      const unknown = Object.keys(request.parameters).find((key) => !key.includes('/'));
      if (unknown !== undefined) throw invalidArgument(`parameters.${unknown}`, 'is not a snapshot parameter of this plugin (it takes none)');
      const found = parseCsiVolumeId(request.source_volume_id, backends);
      if (found === undefined) throw new SharemountError('NOT_FOUND', `source_volume_id: no volume ${request.source_volume_id}`, { field: 'source_volume_id' });
      const { backend, volumeId } = found;
      if (!snapshotting.includes(backend)) throw invalidArgument('source_volume_id', `backend ${backend.name} does not snapshot its volumes`);
      return queue.run(`snapshot:${request.name}`, call.deadline, async () => {
        const snapshot = await accountCopies(copyListener(metrics, 'snapshot', backend.name), () => backend.createSnapshot!({ name: request.name, sourceVolumeId: volumeId }));
        logger.info({ name: request.name, snapshotId: snapshot.snapshotId, source: request.source_volume_id }, 'snapshot made');
        return { snapshot: csiSnapshot(backend, snapshot) };
      });
    },

    async DeleteSnapshot(raw: unknown, call: CallInfo) {
      const request = parseRequest(deleteSnapshotRequest, raw);
      const found = parseCsiVolumeId(request.snapshot_id, backends);
      // An id this plugin never made names no snapshot: deleting it is a success, as CSI asks.
      if (found === undefined || !snapshotting.includes(found.backend)) return {};
      return queue.run(`snapshot-id:${request.snapshot_id}`, call.deadline, async () => {
        await found.backend.deleteSnapshot!(found.volumeId);
        logger.info({ snapshotId: request.snapshot_id }, 'snapshot deleted');
        return {};
      });
    },

    async ListSnapshots(raw: unknown) {
      const request = parseRequest(listSnapshotsRequest, raw);
      const bySnapshot = request.snapshot_id === '' ? undefined : parseCsiVolumeId(request.snapshot_id, backends);
      const bySource = request.source_volume_id === '' ? undefined : parseCsiVolumeId(request.source_volume_id, backends);
      // A filter naming nothing of this plugin's matches nothing: an empty list, not NOT_FOUND.
      const nothing = (request.snapshot_id !== '' && bySnapshot === undefined) || (request.source_volume_id !== '' && bySource === undefined) || (bySnapshot && bySource && bySnapshot.backend !== bySource.backend);
      const asked = bySnapshot?.backend ?? bySource?.backend;
      const listed = nothing ? [] : await Promise.all(
        (asked ? [asked] : snapshotting).filter((b) => snapshotting.includes(b)).map(async (backend) =>
          (await backend.listSnapshots!({ ...(bySnapshot ? { snapshotId: bySnapshot.volumeId } : {}), ...(bySource ? { sourceVolumeId: bySource.volumeId } : {}) })).map((s) => csiSnapshot(backend, s)),
        ),
      );
      const { page, nextToken } = pageOf(listed.flat(), (s) => s.snapshot_id, 'snapshots', request.starting_token, request.max_entries);
      return { entries: page.map((snapshot) => ({ snapshot })), next_token: nextToken };
    },
  };
}

/** A backend's snapshot as CSI's Snapshot message. */
export function csiSnapshot(backend: AnyBackend, snapshot: ProvisionedSnapshot) {
  return {
    size_bytes: snapshot.sizeBytes,
    snapshot_id: csiVolumeId(backend, snapshot.snapshotId),
    source_volume_id: csiVolumeId(backend, snapshot.sourceVolumeId),
    creation_time: { seconds: Math.floor(snapshot.creationTime / 1000), nanos: (snapshot.creationTime % 1000) * 1_000_000 },
    ready_to_use: snapshot.readyToUse,
    group_snapshot_id: '',
  };
}
