import type { AnyBackend } from '../backend.js';

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
