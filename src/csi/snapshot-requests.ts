import * as z from '../zod.js';
import { id, stringMap } from './requests.js';
import { volumeName } from './controller-requests.js';

/* The snapshot and listing requests of the Controller service as the shim reads them (see requests.ts). */

const maxEntries = z._default(z.int(), 0);
// An optional id: "" is absent, as gRPC hands an unset string over.
const optionalId = z._default(z.string().check(z.refine((value: string) => Buffer.byteLength(value) <= 128, 'must be at most 128 bytes')), '');

export const createSnapshotRequest = z.looseObject({ source_volume_id: id, name: volumeName, parameters: stringMap, secrets: stringMap });

export const deleteSnapshotRequest = z.looseObject({ snapshot_id: id });

export const listSnapshotsRequest = z.looseObject({ max_entries: maxEntries, starting_token: z._default(z.string(), ''), source_volume_id: optionalId, snapshot_id: optionalId });

export const listVolumesRequest = z.looseObject({ max_entries: maxEntries, starting_token: z._default(z.string(), '') });
