import { SharemountError, fromZodError, invalidArgument, isSharemountError } from '../errors.js';
import type { AnyBackend } from '../backend.js';
import type { CapacityRange } from '../capacity-range.js';
import { backendKey, pickBackend } from '../volume-parameters.js';
import { capacityRequest, createVolumeRequest, deleteVolumeRequest, expandRequest, validateRequest } from './controller-requests.js';
import { checkCapability, parseRequest, type MountCapability } from './requests.js';
import type { CallInfo, ServiceContext } from './service-context.js';
import { csiVolumeId, parseCsiVolumeId } from './volume-id.js';
import { accountCopies } from '../copy-accounting.js';
import { copyListener } from './metrics.js';
import { checkBackendServes, clonesVolumes, existingVolume, expandsVolumes, listingBackends, provisioningBackends, snapshotBackends } from './backend-abilities.js';
import { checkedContentSource, csiContentSource } from './content-source.js';
import { snapshotService } from './snapshot-service.js';
import { listVolumesService } from './list-volumes-service.js';

type Topology = Readonly<Record<string, string>>;

/**
 * The Controller service, on the backends' provisioning: CreateVolume and DeleteVolume call the
 * backend the parameters name, ValidateVolumeCapabilities looks the volume up, GetCapacity asks
 * the backend. A volume of a node-local backend (a host directory, a logical volume) is
 * accessible from this node's topology only. Without a provisioning backend only the capability
 * call is served (an empty list).
 */
export function controllerService(context: ServiceContext) {
  const { options, queue, logger, topology, metrics } = context;
  const backends = options.backends;
  const provisioning = provisioningBackends(backends);
  const withCapacity = backends.filter((backend) => backend.capacity !== undefined);
  // SINGLE_NODE_MULTI_WRITER (the access modes) holds even without provisioning, and keeps the
  // list from being empty, which some versions of csi-sanity's node tests take for an error.
  const provisioningCapabilities =
    provisioning.length === 0
      ? []
      : [
          'CREATE_DELETE_VOLUME',
          ...(withCapacity.length > 0 ? ['GET_CAPACITY'] : []),
          ...(expandsVolumes(backends) ? ['EXPAND_VOLUME'] : []),
          ...(snapshotBackends(backends).length > 0 ? ['CREATE_DELETE_SNAPSHOT', 'LIST_SNAPSHOTS'] : []),
          ...(clonesVolumes(backends) ? ['CLONE_VOLUME'] : []),
          ...(listingBackends(backends).length > 0 ? ['LIST_VOLUMES'] : []),
        ];
  const capabilities = [...provisioningCapabilities, 'SINGLE_NODE_MULTI_WRITER'];
  const getCapabilities = { async ControllerGetCapabilities() {
    return { capabilities: capabilities.map((type) => ({ rpc: { type } })) };
  } };
  if (provisioning.length === 0) return getCapabilities;

  const accessibleTopology = (backend: AnyBackend) => (backend.nodeLocal && topology !== undefined ? [{ segments: topology }] : []);
  const reachable = (wanted: readonly { segments: Topology }[]) => topology === undefined || wanted.some((t) => matches(t.segments, topology));

  const { ControllerExpandVolume, ...always } = {
    ...getCapabilities,
    ...snapshotService(context),
    ...listVolumesService(context, accessibleTopology),

    async CreateVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(createVolumeRequest, raw);
      const capabilities = request.volume_capabilities.map((cap, i) => checkCapability(cap, `volume_capabilities[${i}]`));
      const asked = capacityRangeOf(request.capacity_range);
      const parameters = { ...request.parameters };
      const backend = pickBackend(parameters, backends, 'parameters');
      if (!backend.createVolume) throw invalidArgument(`parameters.${backendKey}`, `backend ${backend.name} does not create volumes in this driver`);
      const parsed = backend.parameters ? backend.parameters.safeParse(parameters) : { success: true as const, data: parameters };
      if (!parsed.success) throw fromZodError(parsed.error, 'parameters');
      capabilities.forEach((capability, i) => checkReachableFromNodes(backend, capability, `volume_capabilities[${i}]`));
      capabilities.forEach((capability, i) => checkBackendServes(backend, capability, `volume_capabilities[${i}]`));
      const requirement = request.accessibility_requirements;
      if (backend.nodeLocal && requirement !== null && requirement.requisite.length > 0 && !reachable(requirement.requisite)) {
        throw new SharemountError('RESOURCE_EXHAUSTED', `accessibility_requirements: ${backend.name} volumes are made on this node only, which none of the requisite topologies is`);
      }
      return queue.run(`name:${request.name}`, call.deadline, async () => {
        const content = await checkedContentSource(request.volume_content_source, backend, backends, asked);
        const range = content?.range ?? asked;
        // A volume made from a snapshot or a volume is a copy: its bytes count as a clone's (docs/metrics.md).
        const volume = await accountCopies(copyListener(metrics, 'clone', backend.name), () => backend.createVolume!({ name: request.name, parameters: parsed.data, ...range, ...(content ? { contentSource: content.source } : {}) }));
        const volumeId = csiVolumeId(backend, volume.volumeId);
        const context = backends.length > 1 ? { ...volume.context, [backendKey]: backend.name } : volume.context;
        logger.info({ name: request.name, volumeId, capacityBytes: volume.capacityBytes }, 'created volume');
        const contentSource = content ? { content_source: csiContentSource(request.volume_content_source!) } : {};
        return { volume: { volume_id: volumeId, capacity_bytes: volume.capacityBytes ?? 0, volume_context: context, ...contentSource, accessible_topology: accessibleTopology(backend) } };
      });
    },

    async DeleteVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(deleteVolumeRequest, raw);
      const found = parseCsiVolumeId(request.volume_id, backends);
      // An id this plugin never made names no volume: deleting it is a success, as CSI asks.
      if (found === undefined || !found.backend.deleteVolume) return {};
      const { backend, volumeId } = found;
      return queue.run(request.volume_id, call.deadline, async () => {
        if (backend.describeVolume && (await backend.describeVolume(volumeId)) === undefined) return {};
        try {
          await backend.deleteVolume!(volumeId);
        } catch (error) {
          // A backend without a lookup says an id that does not parse is invalid: no such volume.
          if (isSharemountError(error, 'INVALID_ARGUMENT') && error.field === 'volumeId') return {};
          throw error;
        }
        logger.info({ volumeId: request.volume_id }, 'deleted volume');
        return {};
      });
    },

    async ValidateVolumeCapabilities(raw: unknown) {
      const request = parseRequest(validateRequest, raw);
      const found = parseCsiVolumeId(request.volume_id, backends);
      if (found === undefined) throw new SharemountError('NOT_FOUND', `volume_id: no volume ${request.volume_id}`, { field: 'volume_id' });
      await existingVolume(found.backend, found.volumeId, request.volume_id);
      for (const [i, cap] of request.volume_capabilities.entries()) {
        try {
          const field = `volume_capabilities[${i}]`;
          const capability = checkCapability(cap, field);
          checkReachableFromNodes(found.backend, capability, field);
          checkBackendServes(found.backend, capability, field);
        } catch (error) {
          if (!isSharemountError(error, 'INVALID_ARGUMENT')) throw error;
          return { message: error.message }; // not confirmed, and why
        }
      }
      return { confirmed: { volume_context: request.volume_context, volume_capabilities: request.volume_capabilities, parameters: request.parameters } };
    },

    async ControllerExpandVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(expandRequest, raw);
      const range = capacityRangeOf(request.capacity_range);
      const bytes = range.capacityBytes ?? range.capacityLimitBytes;
      if (bytes === undefined) throw invalidArgument('capacity_range', 'is required: the size to grow the volume to');
      const found = parseCsiVolumeId(request.volume_id, backends);
      if (found === undefined) throw new SharemountError('NOT_FOUND', `volume_id: no volume ${request.volume_id}`, { field: 'volume_id' });
      const { backend, volumeId } = found;
      if (!backend.expandVolume) throw new SharemountError('UNSUPPORTED', `backend ${backend.name} does not grow volumes`);
      return queue.run(request.volume_id, call.deadline, async () => {
        const described = await existingVolume(backend, volumeId, request.volume_id);
        // A node-local volume grows on its node, which this controller may not be: kubelet there
        // calls NodeExpandVolume, where the backend grows it (and its filesystem, online). A
        // volume is never shrunk, so a smaller size answers the size it has.
        if (backend.nodeLocal) return { capacity_bytes: Math.max(bytes, described.capacityBytes ?? 0), node_expansion_required: true };
        const { capacityBytes } = await backend.expandVolume!(volumeId, bytes);
        logger.info({ volumeId: request.volume_id, capacityBytes }, 'expanded volume');
        return { capacity_bytes: capacityBytes, node_expansion_required: false };
      });
    },

    async GetCapacity(raw: unknown) {
      const request = parseRequest(capacityRequest, raw);
      const parameters = { ...request.parameters };
      // Without parameters that name a backend there is no one pool to report: zero, which CSI allows.
      if (backends.length > 1 && parameters[backendKey] === undefined) return { available_capacity: 0 };
      const backend = pickBackend(parameters, backends, 'parameters');
      if (!backend.capacity) return { available_capacity: 0 };
      if (backend.nodeLocal && request.accessible_topology !== null && !reachable([request.accessible_topology])) return { available_capacity: 0 };
      const { availableBytes } = await backend.capacity(parameters);
      return { available_capacity: availableBytes };
    },
  };
  return expandsVolumes(backends) ? { ...always, ControllerExpandVolume } : always;
}

/** A node-local backend's volumes live on one node: a mode that spans nodes cannot be kept. */
function checkReachableFromNodes(backend: AnyBackend, capability: MountCapability, field: string): void {
  if (backend.nodeLocal && capability.mode.startsWith('MULTI_NODE_')) {
    throw invalidArgument(`${field}.access_mode.mode`, `${capability.mode} is not possible: ${backend.name} volumes live on one node`);
  }
}

/** A CSI capacity_range as the backends take it: 0 means not given. */
function capacityRangeOf(range: { required_bytes: number; limit_bytes: number } | null): CapacityRange {
  if (range === null) return {};
  const { required_bytes: required, limit_bytes: limit } = range;
  if (limit > 0 && required > limit) throw invalidArgument('capacity_range', `required_bytes (${required}) is more than limit_bytes (${limit})`);
  return { ...(required > 0 ? { capacityBytes: required } : {}), ...(limit > 0 ? { capacityLimitBytes: limit } : {}) };
}

function matches(wanted: Topology, ours: Topology): boolean {
  return Object.entries(wanted).every(([key, value]) => ours[key] === value);
}
