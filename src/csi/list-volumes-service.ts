import type { AnyBackend, ContentSource } from '../backend.js';
import { backendKey } from '../volume-parameters.js';
import { parseRequest } from './requests.js';
import { listVolumesRequest } from './snapshot-requests.js';
import type { CallInfo, ServiceContext } from './service-context.js';
import { csiVolumeId } from './volume-id.js';
import { pageOf } from './list-pages.js';
import { listingBackends } from './backend-abilities.js';

type Topology = Array<{ segments: Readonly<Record<string, string>> }>;

/**
 * ListVolumes (LIST_VOLUMES, advertised when a provisioning backend lists its volumes): every
 * volume those backends see, sorted by id and paged (list-pages.ts), each as CreateVolume
 * answered it. LIST_VOLUMES_PUBLISHED_NODES is not advertised: the plugin has no
 * ControllerPublishVolume, so no volume is ever controller-published to a node.
 */
export function listVolumesService({ options }: ServiceContext, accessibleTopology: (backend: AnyBackend) => Topology): Record<string, (raw: unknown, call: CallInfo) => Promise<object>> {
  const backends = options.backends;
  const listing = listingBackends(backends);
  if (listing.length === 0) return {};
  return {
    async ListVolumes(raw: unknown) {
      const request = parseRequest(listVolumesRequest, raw);
      const listed = await Promise.all(
        listing.map(async (backend) =>
          (await backend.listVolumes!()).map((volume) => ({
            volume_id: csiVolumeId(backend, volume.volumeId),
            capacity_bytes: volume.capacityBytes ?? 0,
            volume_context: backends.length > 1 ? { ...volume.context, [backendKey]: backend.name } : volume.context,
            ...(volume.contentSource ? { content_source: csiSource(backend, volume.contentSource) } : {}),
            accessible_topology: accessibleTopology(backend),
          })),
        ),
      );
      const { page, nextToken } = pageOf(listed.flat(), (volume) => volume.volume_id, 'volumes', request.starting_token, request.max_entries);
      return { entries: page.map((volume) => ({ volume })), next_token: nextToken };
    },
  };
}

function csiSource(backend: AnyBackend, source: ContentSource) {
  return 'snapshotId' in source ? { snapshot: { snapshot_id: csiVolumeId(backend, source.snapshotId) } } : { volume: { volume_id: csiVolumeId(backend, source.volumeId) } };
}
