import { invalidArgument } from '../../errors.js';
import { canonicalExport, canonicalServer } from './source.js';
import { checkSubDirName } from './subdir-name.js';

/** Where a provisioned NFS volume lives: a direct sub-directory of one export. */
export interface NfsVolumeLocation {
  server: string;
  export: string;
  /** The sub-directory's name, one path component. */
  name: string;
}

/** CSI limits volume ids to 128 bytes, and the CSI shim prefixes `nfs:` (sharemount/csi volume-id.ts). */
export const maxVolumeIdBytes = 124;

/**
 * `server#export#name`. A server never contains `#` and a checked name never does, so the first
 * and last `#` delimit the export even when it contains one.
 */
export function formatVolumeId(location: NfsVolumeLocation): string {
  const id = `${location.server}#${location.export}#${location.name}`;
  if (Buffer.byteLength(id) > maxVolumeIdBytes) {
    throw invalidArgument('name', `server, export and sub-directory name together exceed the ${maxVolumeIdBytes} bytes of a volume id; use a shorter sub-directory template`);
  }
  return id;
}

/** Inverts `formatVolumeId`, checking every part again (an id comes back from outside). */
export function parseVolumeId(volumeId: string, field = 'volumeId'): NfsVolumeLocation {
  if (Buffer.byteLength(volumeId) > maxVolumeIdBytes) throw invalidArgument(field, `is longer than ${maxVolumeIdBytes} bytes`);
  const first = volumeId.indexOf('#');
  const last = volumeId.lastIndexOf('#');
  if (first === -1 || first === last) throw invalidArgument(field, 'is not an NFS volume id (server#export#name)');
  const server = canonicalServer(volumeId.slice(0, first));
  if ('problem' in server) throw invalidArgument(field, `names a server that ${server.problem}`);
  const exported = canonicalExport(volumeId.slice(first + 1, last));
  if ('problem' in exported) throw invalidArgument(field, `names an export path that ${exported.problem}`);
  const name = volumeId.slice(last + 1);
  checkSubDirName(name, field);
  if (server.server !== volumeId.slice(0, first) || exported.export !== volumeId.slice(first + 1, last)) {
    throw invalidArgument(field, 'is not in canonical form');
  }
  return { server: server.server, export: exported.export, name };
}
