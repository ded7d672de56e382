import * as z from '../zod.js';
import { fromZodError } from '../errors.js';
import type { AnyBackend } from '../backend.js';
import type { Logger } from '../logger.js';
import type { Timeouts } from '../manager-options.js';
import type { MetricsEndpointOptions } from './metrics-endpoint.js';

/** What a CSI driver built on sharemount is made of. */
export interface CsiPluginOptions {
  /** The driver's name (GetPluginInfo, the CSIDriver object): domain-like, ≤ 63 characters, `nfs.example.com`. */
  name: string;
  /** The driver's version, as GetPluginInfo reports it. */
  vendorVersion: string;
  /** This node's id (NodeGetInfo), ≤ 128 bytes: the Kubernetes node name, usually. */
  nodeId: string;
  /** Where to listen: `unix:///csi/csi.sock` or an absolute path of a unix socket. */
  endpoint: string;
  /** The backends served; with more than one, a volume's context (or a StorageClass) picks one with `backend`. */
  backends: readonly AnyBackend[];
  /** sharemount's state root on the node. Default `/var/lib/sharemount/csi/<name>` (see `defaultRoot`). */
  root?: string;
  /** Where the plugin logs (pino's call shape). Default: JSON lines on stderr, secrets redacted. */
  logger?: Logger;
  timeouts?: Partial<Timeouts>;
  /**
   * Topology segments of this node (NodeGetInfo; advertises VOLUME_ACCESSIBILITY_CONSTRAINTS).
   * Default: none, or `<name>/node: <nodeId>` when a node-local backend provisions.
   */
  topology?: Readonly<Record<string, string>>;
  /** NodeGetInfo's max_volumes_per_node; 0 (the default) means no limit. */
  maxVolumesPerNode?: number;
  /**
   * Serve Prometheus metrics over HTTP at `/metrics` (docs/metrics.md): `{ port, host? }`, host
   * `127.0.0.1` by default, port 0 for any free one. Off when absent: nothing listens and
   * prom-client (an optional peer dependency) is never loaded.
   */
  metrics?: MetricsEndpointOptions;
  /**
   * Every this many milliseconds, reconcile the whole state root in the background, which heals
   * broken shares (docs/healing.md) with no call waiting for it. Off by default: a publish, a
   * NodePublishVolume and a NodeGetVolumeStats heal the share they touch anyway.
   */
  healIntervalMs?: number;
  /** Calls for one volume wait in line; this many waiting (default 16), a further one answers ABORTED. */
  maxQueuedPerVolume?: number;
  /**
   * Maps a volume's context (minus the shim's `backend` key) and what else NodeStageVolume
   * brings to the backend's parameters. Default: the context as it is; secrets go nowhere
   * unless mapped here.
   */
  toParameters?(context: Readonly<Record<string, string>>, stage: StageInputs, backend: AnyBackend): Record<string, unknown>;
}

/** What NodeStageVolume brings besides the volume context. */
export interface StageInputs {
  /** node_stage_secrets: pass them only as sensitive options (never logged, never in a path). */
  secrets: Readonly<Record<string, string>>;
  /** The capability's fs_type (a PV's `csi.fsType`); "" when not given. */
  fsType: string;
}

/**
 * `/var/lib/sharemount/csi/<driver name>`: a root of each driver's own, never shared by accident
 * with another driver or with a FlexVolume driver (whose default is under `flexvolume/`).
 */
export function defaultRoot(name: string): string {
  return `/var/lib/sharemount/csi/${name}`;
}

// The spec's rule for GetPluginInfo's name: DNS-label characters, dots between, 63 at most.
const pluginName = z.string().check(
  z.maxLength(63, 'must be at most 63 characters'),
  z.regex(/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/, 'must be a domain-like name: alphanumerics, "-" and ".", starting and ending with an alphanumeric'),
);
const maxBytes = (bytes: number) => z.refine<string>((value) => Buffer.byteLength(value) <= bytes, `must be at most ${bytes} bytes`);
const isFunction = (value: unknown) => typeof value === 'function';

const optionsSchema = z.looseObject({
  name: pluginName,
  vendorVersion: z.string().check(z.minLength(1, 'is required')),
  nodeId: z.string().check(z.minLength(1, 'is required'), maxBytes(128)),
  endpoint: z.string().check(z.regex(/^(unix:\/\/)?\/./, 'must be unix:///path/to/socket or an absolute path')),
  backends: z.array(z.unknown()).check(z.minLength(1, 'must name at least one backend')),
  root: z.optional(z.string().check(z.startsWith('/', 'must be an absolute path'))),
  topology: z.optional(z.record(z.string().check(z.minLength(1), maxBytes(128)), z.string().check(maxBytes(128)))),
  maxVolumesPerNode: z.optional(z.int().check(z.minimum(0))),
  maxQueuedPerVolume: z.optional(z.int().check(z.minimum(0), z.maximum(10_000))),
  healIntervalMs: z.optional(z.int().check(z.minimum(100, 'must be at least 100 ms'), z.maximum(2 ** 31 - 1, 'must be at most 2147483647 ms (the longest timer Node can set)'))),
  toParameters: z.optional(z.custom(isFunction, 'must be a function')),
  metrics: z.optional(z.object({ port: z.int().check(z.minimum(0), z.maximum(65_535)), host: z.optional(z.string().check(z.minLength(1, 'is required'))) })),
});

/** Validates the options (the MountManager checks the backends, root and timeouts again itself). */
export function checkPluginOptions(options: CsiPluginOptions): CsiPluginOptions {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw fromZodError(parsed.error, 'options');
  return options;
}

/** The socket path of an endpoint (`unix:///csi/csi.sock` → `/csi/csi.sock`). */
export function socketPathOf(endpoint: string): string {
  return endpoint.startsWith('unix://') ? endpoint.slice('unix://'.length) : endpoint;
}
