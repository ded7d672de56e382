import * as z from '../zod.js';
import { fromZodError, invalidArgument } from '../errors.js';

/*
 * The requests of the Node service as the shim reads them. gRPC hands every field over (absent
 * scalars as "", absent messages as null), so "required" means non-empty here, and each failure
 * names the spec's own field (`volume_capability.access_mode`).
 */

export const required = z.string().check(z.minLength(1, 'is required'));
// The spec's bound on identifiers such as volume_id and node_id.
export const id = z.string().check(z.minLength(1, 'is required'), z.refine((value: string) => Buffer.byteLength(value) <= 128, 'must be at most 128 bytes'));
export const stringMap = z._default(z.record(z.string(), z.string()), {});

export const capability = z.looseObject({
  access_type: z.optional(z.string()),
  mount: z.optional(z.nullable(z.looseObject({ fs_type: z._default(z.string(), ''), mount_flags: z._default(z.array(z.string()), []), volume_mount_group: z._default(z.string(), '') }))),
  access_mode: z.optional(z.nullable(z.looseObject({ mode: z._default(z.string(), 'UNKNOWN') }))),
});

export const stageRequest = z.looseObject({
  volume_id: id,
  staging_target_path: required,
  volume_capability: z._default(z.nullable(capability), null),
  volume_context: stringMap,
  secrets: stringMap,
});

export const unstageRequest = z.looseObject({ volume_id: id, staging_target_path: required });

export const publishRequest = z.looseObject({
  volume_id: id,
  staging_target_path: z.string().check(z.minLength(1, 'is required: this plugin stages its volumes (STAGE_UNSTAGE_VOLUME)')),
  target_path: required,
  volume_capability: z._default(z.nullable(capability), null),
  readonly: z._default(z.boolean(), false),
  volume_context: stringMap,
});

export const unpublishRequest = z.looseObject({ volume_id: id, target_path: required });

export const statsRequest = z.looseObject({ volume_id: id, volume_path: required, staging_target_path: z.optional(z.string()) });

export const expandRequest = z.looseObject({
  volume_id: id,
  volume_path: required,
  capacity_range: z._default(z.nullable(z.looseObject({ required_bytes: z._default(z.int().check(z.minimum(0, 'must not be negative')), 0), limit_bytes: z._default(z.int().check(z.minimum(0, 'must not be negative')), 0) })), null),
});

/** Parses a request, or throws INVALID_ARGUMENT naming the first bad field. */
export function parseRequest<T>(schema: z.ZodMiniType<T>, request: unknown): T {
  const parsed = schema.safeParse(request ?? {});
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

export type AccessMode = 'SINGLE_NODE_WRITER' | 'SINGLE_NODE_READER_ONLY' | 'MULTI_NODE_READER_ONLY' | 'MULTI_NODE_SINGLE_WRITER' | 'MULTI_NODE_MULTI_WRITER' | 'SINGLE_NODE_SINGLE_WRITER' | 'SINGLE_NODE_MULTI_WRITER';

const accessModes: readonly AccessMode[] = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY', 'MULTI_NODE_SINGLE_WRITER', 'MULTI_NODE_MULTI_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER'];
/**
 * A capability, checked: a mount one (a filesystem), or a block one (a raw device, served only
 * by backends with `blockDevice`: see `checkBackendServes`).
 */
export interface MountCapability {
  /** A raw block volume (`volumeMode: Block`); fsType and mountFlags are empty then. */
  block: boolean;
  fsType: string;
  mountFlags: string[];
  mode: AccessMode;
  /** Whether the access mode allows no writer at all. */
  readerOnly: boolean;
}

export function checkCapability(value: z.infer<typeof capability> | null, field = 'volume_capability'): MountCapability {
  if (value === null) throw invalidArgument(field, 'is required');
  const block = value.access_type === 'block';
  if (!block && (value.access_type !== 'mount' || !value.mount)) throw invalidArgument(field, 'must have a mount or block access type');
  const mode = value.access_mode?.mode;
  if (mode === undefined || mode === 'UNKNOWN') throw invalidArgument(`${field}.access_mode`, 'is required');
  if (!accessModes.includes(mode as AccessMode)) throw invalidArgument(`${field}.access_mode.mode`, `must be one of ${accessModes.join(', ')}`);
  const mount = block ? { fs_type: '', mount_flags: [] } : value.mount!;
  return { block, fsType: mount.fs_type, mountFlags: mount.mount_flags, mode: mode as AccessMode, readerOnly: mode === 'SINGLE_NODE_READER_ONLY' || mode === 'MULTI_NODE_READER_ONLY' };
}
