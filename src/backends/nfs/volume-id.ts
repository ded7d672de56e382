import { createHash } from 'node:crypto';
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

/** Bytes of the hash that stands for a name too long for the id (64 bits of sha256, hex). */
const hashLength = 16;

/**
 * Where a volume of sub-directory name `name` goes: that name when `server#export#name` fits a
 * volume id, else a readable prefix of it and a hash of the whole name (the same name always
 * gives the same directory, so CreateVolume stays idempotent by name). Only a server and export
 * that leave no room for the hash are refused, naming `parameters.share`.
 */
export function fittedLocation(server: string, exported: string, name: string): NfsVolumeLocation {
  const location = { server, export: exported, name };
  if (Buffer.byteLength(idText(location)) <= maxVolumeIdBytes) return location;
  const room = maxVolumeIdBytes - Buffer.byteLength(`${server}#${exported}#`);
  if (room < hashLength) {
    throw invalidArgument('parameters.share', `server and export together leave ${Math.max(0, room)} bytes of a ${maxVolumeIdBytes}-byte volume id for the volume's name, less than the ${hashLength} its hash needs: use a shorter export path or server name`);
  }
  const hash = createHash('sha256').update(name).digest('hex').slice(0, hashLength);
  // Checked names are ASCII, so characters are bytes; a prefix of one is still a safe name.
  const prefix = name.slice(0, Math.max(0, room - hashLength - 1));
  return { ...location, name: prefix === '' ? hash : `${prefix}-${hash}` };
}

function idText(location: NfsVolumeLocation): string {
  return `${location.server}#${location.export}#${location.name}`;
}

/**
 * `server#export#name`. A server never contains `#` and a checked name never does, so the first
 * and last `#` delimit the export even when it contains one.
 */
export function formatVolumeId(location: NfsVolumeLocation): string {
  const id = idText(location);
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
