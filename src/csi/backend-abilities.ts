import type { AnyBackend } from '../backend.js';
import { SharemountError, invalidArgument } from '../errors.js';
import type { MountCapability } from './requests.js';

/* What the plugin's backends can do, which decides the capabilities the plugin advertises. */

/** The backends that can create and delete volumes. */
export function provisioningBackends(backends: readonly AnyBackend[]): AnyBackend[] {
  return backends.filter((backend) => backend.createVolume !== undefined && backend.deleteVolume !== undefined);
}

/** Whether some provisioning backend grows its volumes (online: while they are published). */
export function expandsVolumes(backends: readonly AnyBackend[]): boolean {
  return provisioningBackends(backends).some((backend) => backend.expandVolume !== undefined);
}

/** Whether some volumes grow on their node (NodeExpandVolume): those of node-local backends. */
export function expandsOnNodes(backends: readonly AnyBackend[]): boolean {
  return provisioningBackends(backends).some((backend) => backend.expandVolume !== undefined && backend.nodeLocal === true);
}

/**
 * What the backend says of one of its volumes (nothing to say when it cannot look volumes up);
 * NOT_FOUND, naming the CSI `volume_id`, when it says there is no such volume.
 */
export async function existingVolume(backend: AnyBackend, volumeId: string, csiVolumeId: string): Promise<{ capacityBytes?: number }> {
  const described = backend.describeVolume ? await backend.describeVolume(volumeId) : {};
  if (described === undefined) throw new SharemountError('NOT_FOUND', `volume_id: no volume ${csiVolumeId}`, { field: 'volume_id' });
  return described;
}

/** A block capability needs a backend that has block devices (`blockDevice`): INVALID_ARGUMENT naming it otherwise. */
export function checkBackendServes(backend: AnyBackend, capability: MountCapability, field: string): void {
  if (capability.block && backend.blockDevice === undefined) {
    throw invalidArgument(`${field}.block`, `block volumes are not served by backend ${backend.name}: it publishes filesystems (use a mount capability)`);
  }
}

/** The provisioning backends that make, delete and list snapshots. */
export function snapshotBackends(backends: readonly AnyBackend[]): AnyBackend[] {
  return provisioningBackends(backends).filter((backend) => backend.createSnapshot !== undefined && backend.deleteSnapshot !== undefined && backend.listSnapshots !== undefined);
}

/** The provisioning backends that list their volumes. */
export function listingBackends(backends: readonly AnyBackend[]): AnyBackend[] {
  return provisioningBackends(backends).filter((backend) => backend.listVolumes !== undefined);
}

/** Whether some provisioning backend makes volumes from other volumes (CLONE_VOLUME). */
export function clonesVolumes(backends: readonly AnyBackend[]): boolean {
  return provisioningBackends(backends).some((backend) => backend.contentSources?.includes('volume') === true);
}
