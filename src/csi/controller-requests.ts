import * as z from '../zod.js';
import { capability, id, stringMap } from './requests.js';

/* The requests of the Controller service as the shim reads them (see requests.ts). */

// A CSI name: any Unicode but control characters (the spec's banned ranges), at most 128 bytes.
export const volumeName = z.string().check(
  z.minLength(1, 'is required'),
  z.refine((value: string) => Buffer.byteLength(value) <= 128, 'must be at most 128 bytes'),
  z.refine((value: string) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/.test(value), 'contains a control character'),
);
const bytes = z._default(z.int().check(z.minimum(0, 'must not be negative')), 0);
const topology = z.looseObject({ segments: z._default(z.record(z.string(), z.string()), {}) });

export const createVolumeRequest = z.looseObject({
  name: volumeName,
  capacity_range: z._default(z.nullable(z.looseObject({ required_bytes: bytes, limit_bytes: bytes })), null),
  volume_capabilities: z._default(z.array(capability), []).check(z.minLength(1, 'is required: at least one capability')),
  parameters: stringMap,
  secrets: stringMap,
  volume_content_source: z._default(
    z.nullable(
      z.looseObject({
        type: z.optional(z.string()),
        snapshot: z.optional(z.nullable(z.looseObject({ snapshot_id: z._default(z.string(), '') }))),
        volume: z.optional(z.nullable(z.looseObject({ volume_id: z._default(z.string(), '') }))),
      }),
    ),
    null,
  ),
  accessibility_requirements: z._default(
    z.nullable(z.looseObject({ requisite: z._default(z.array(topology), []), preferred: z._default(z.array(topology), []) })),
    null,
  ),
});

export const deleteVolumeRequest = z.looseObject({ volume_id: id });

export const validateRequest = z.looseObject({
  volume_id: id,
  volume_context: stringMap,
  volume_capabilities: z._default(z.array(capability), []).check(z.minLength(1, 'is required: at least one capability')),
  parameters: stringMap,
});

export const expandRequest = z.looseObject({
  volume_id: id,
  capacity_range: z._default(z.nullable(z.looseObject({ required_bytes: bytes, limit_bytes: bytes })), null),
});

export const capacityRequest = z.looseObject({
  parameters: stringMap,
  accessible_topology: z._default(z.nullable(topology), null),
});
