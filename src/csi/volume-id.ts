import { SharemountError } from '../errors.js';
import type { AnyBackend } from '../backend.js';

/** CSI's bound on a volume id. */
const maxVolumeIdBytes = 128;

/*
 * A CSI volume id is `<backend>:<the backend's own id>`: DeleteVolume brings nothing but the id,
 * so it must say which backend to ask. Backend names never hold a colon.
 */

export function csiVolumeId(backend: AnyBackend, volumeId: string): string {
  const id = `${backend.name}:${volumeId}`;
  if (Buffer.byteLength(id) > maxVolumeIdBytes) {
    throw new SharemountError('INTERNAL', `backend ${backend.name} made a volume id of ${Buffer.byteLength(volumeId)} bytes; with its name it exceeds CSI's ${maxVolumeIdBytes}`);
  }
  return id;
}

/** The backend and its own id, or undefined for an id this plugin never made. */
export function parseCsiVolumeId(id: string, backends: readonly AnyBackend[]): { backend: AnyBackend; volumeId: string } | undefined {
  const colon = id.indexOf(':');
  if (colon <= 0) return undefined;
  const backend = backends.find((b) => b.name === id.slice(0, colon));
  return backend && { backend, volumeId: id.slice(colon + 1) };
}
