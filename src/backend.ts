import type * as z from './zod.js';
import type { OptionList } from './options.js';
import type { Logger } from './logger.js';

/**
 * A zod 4 schema, written with classic zod (`z.object(...)`) or zod/mini: anything zod can parse,
 * with the parse methods both kinds have. The core's own schemas use zod/mini, whose schemas
 * hold no methods of their own (a FlexVolume call starts measurably faster with them).
 */
export type Schema<T> = z.core.$ZodType<T> & Pick<z.ZodMiniType<T>, 'parse' | 'safeParse'>;

/**
 * What a backend mounts: `{ backend: 'nfs', server, export }`, `{ backend: 'bind', path }`...
 * `backend` names the Backend that handles it; the other fields are that backend's own.
 */
export interface Source {
  backend: string;
}

/**
 * A Source as a caller writes it: `{ backend: 'nfs', server, export }` as an object literal, or
 * a value of a backend's own Source type. Its fields are checked by the backend's `sourceSchema`.
 */
export type SourceInput = Source | { readonly backend: string; readonly [field: string]: unknown };

/** Everything a backend's `mount` needs to mount one share. */
export interface ShareMountContext<S extends Source = Source> {
  source: S;
  /** Canonical (sorted, de-duplicated, validated) options. */
  options: OptionList;
  /** Secret options: pass them to the mount, never to a log, an error or a path. */
  sensitiveOptions: OptionList;
  /** An existing empty directory: mount the source here. */
  mountPoint: string;
  /** Bound for every command the mount runs. */
  timeoutMs: number;
  logger: Logger;
  /**
   * For a backend with `hostDirectory`: that directory, opened and checked by the core, as a
   * path naming exactly it (`/proc/<pid>/fd/<n>`). Mount from this path with `noCanonicalize`,
   * never from the source's own path, which mount(8) would resolve again.
   */
  hostDirectoryPath?: string;
}

/**
 * A volume as a consumer asks for it, turned by `Backend.toVolume` into what `publish` needs.
 * The shims (FlexVolume options, CSI volume context) go through this.
 */
export interface VolumeSpec<S extends Source = Source> {
  source: S;
  options?: OptionList;
  sensitiveOptions?: OptionList;
  subPath?: string;
  createIfNecessary?: boolean;
  createMode?: number;
  /** The volume's own parameters ask for a read-only publication (the shims add the CO's flag to it: either makes it read-only). */
  readOnly?: boolean;
}

/** A request to create a volume (CSI CreateVolume, a FlexVolume driver that provisions). */
export interface CreateVolumeRequest<P> {
  /** The volume's name, unique per backend (a PV name, a CSI volume name). */
  name: string;
  parameters: P;
  /** Requested size in bytes, where the backend has sizes; an existing volume of the name must have at least this. */
  capacityBytes?: number;
  /** The most bytes the volume may have (CSI's limit_bytes): a new one is made no larger, an existing larger one is not the volume asked for. */
  capacityLimitBytes?: number;
  /**
   * Make it with this content (CSI's volume_content_source), in the backend's own ids; only for
   * a backend that lists the kind in `contentSources`. An existing volume of the name made from
   * another source (or none) is ALREADY_EXISTS.
   */
  contentSource?: ContentSource;
}

/** What a new volume starts with: a copy of a snapshot, or of another volume (a clone). */
export type ContentSource = { snapshotId: string } | { volumeId: string };

/** A request to snapshot a volume (CSI CreateSnapshot). */
export interface CreateSnapshotRequest {
  /** The snapshot's name, unique per backend; a repeat with the same name and source answers the same snapshot. */
  name: string;
  /** The backend's own id of the volume. */
  sourceVolumeId: string;
}

/** A snapshot as a backend reports it. */
export interface ProvisionedSnapshot {
  /** Stable id, at most 124 bytes (as a volume id). */
  snapshotId: string;
  sourceVolumeId: string;
  /** What a volume made from it needs at least (0: unknown). */
  sizeBytes: number;
  /** When it was cut, ms since the epoch. */
  creationTime: number;
  readyToUse: boolean;
}

/** A provisioned volume as a listing reports it. */
export interface ListedVolume {
  volumeId: string;
  capacityBytes?: number;
  context: Record<string, string>;
  contentSource?: ContentSource;
}

export interface ProvisionedVolume {
  /** Stable id, enough with the parameters to find the volume again: at most 127 bytes minus the backend's name, so that the CSI id `<name>:<volumeId>` fits in CSI's 128. */
  volumeId: string;
  capacityBytes?: number;
  /** Parameters to publish the volume with (CSI volume_context): flat strings. */
  context: Record<string, string>;
}

/**
 * A pluggable storage adapter. Required: a name, a schema for its Source, the layout of its share
 * paths and how to mount a share. Optional abilities (provisioning, capacity, expansion) are
 * optional members: check for them before use. Write one as a factory returning an object that
 * `satisfies Backend<...>` (see docs/backends/writing-a-backend.md).
 */
export interface Backend<S extends Source = Source, P = unknown> {
  /** Lowercase name, `^[a-z][a-z0-9-]{0,31}$`; equals `source.backend`. */
  readonly name: string;
  /** Validates a Source of this backend (a zod 4 schema, classic or mini). Must accept only `backend: name`. */
  readonly sourceSchema: Schema<S>;
  /**
   * The share's place in the on-disk layout as labelled raw values, e.g. NFS
   * `[['host', server], ['path', export]]`; the core escapes the values. Labels are
   * `^[a-z][a-z0-9-]*$` and never `opts`. Equal sources must give equal layouts.
   */
  layout(source: S): ReadonlyArray<readonly [label: string, value: string]>;
  /** Backend-specific option rules beyond the core's (an allowlist, say). Throw `invalidArgument`. */
  checkOptions?(options: OptionList, field: string): void;
  /** Mounts `context.source` at `context.mountPoint`. Throw SharemountError on failure. */
  mount(context: ShareMountContext<S>): Promise<void>;
  /**
   * For a source that is a directory of this host: the directory and the input field naming it.
   * The core refuses to mount one that is inside, or above, its own state root (it would expose
   * the root's records and key through every publication), after resolving its symlinks, and
   * hands `mount` the directory it checked as `hostDirectoryPath`. With `allowedUnder`, the
   * directory must also lie in one of those (their symlinks resolved too); an empty list
   * refuses every directory. `allowedBy` names the setting that lists them, for the error.
   */
  hostDirectory?(source: S): { path: string; field: string; allowedUnder?: readonly string[]; allowedBy?: string };
  /**
   * Refuses a source this backend's configuration does not serve (the LVM backend's LVs that
   * it neither created nor was given by a tag, unless `mountAnyLogicalVolume`). Called before every publication, whether its share is mounted already or
   * not, and before reconcile remounts a share: a share mounted before the limit was set must not
   * keep serving new consumers. Throw SharemountError naming the field.
   */
  admit?(source: S): Promise<void>;
  /**
   * For raw block volumes (CSI `volumeMode: Block`): the source's block device node, made ready
   * (an LV activated). A backend without it serves filesystems only.
   */
  blockDevice?(source: S): Promise<string>;

  /** Validates a volume's parameters as a driver receives them (flat strings); a zod 4 schema, classic or mini. */
  readonly parameters?: Schema<P>;
  /** Turns validated parameters into what to publish. */
  toVolume?(parameters: P): VolumeSpec<S>;
  createVolume?(request: CreateVolumeRequest<P>): Promise<ProvisionedVolume>;
  /**
   * Deletes (or retains, archives) the volume's data as its policy says; refuses while mounted.
   * A volume that does not exist (any more) is a success. Without `parameters` (CSI's
   * DeleteVolume brings only the id) the backend finds what it needs from the id and its own
   * options.
   */
  deleteVolume?(volumeId: string, parameters?: P): Promise<void>;
  /** A provisioned volume by id, or undefined when there is none (an id that does not parse included). */
  describeVolume?(volumeId: string): Promise<{ capacityBytes?: number; context: Record<string, string> } | undefined>;
  /** Its volumes live on one node (a host directory, a logical volume): CSI gives them the node's topology. */
  readonly nodeLocal?: boolean;
  /**
   * Grows the volume (and its filesystem, online when mounted); returns the new size. Works from
   * the id alone, as deleteVolume. `{ filesystem: false }` grows the volume only: a raw block
   * volume's contents are its user's, whatever filesystem they may hold.
   */
  expandVolume?(volumeId: string, capacityBytes: number, parameters?: P, options?: { filesystem?: boolean }): Promise<{ capacityBytes: number }>;
  /** Free bytes where new volumes of these parameters would go. */
  capacity?(parameters: P): Promise<{ availableBytes: number }>;

  /** The content sources `createVolume` can start a volume from; none when absent. */
  readonly contentSources?: ReadonlyArray<'snapshot' | 'volume'>;
  /** Snapshots a volume, idempotent by name: the same name with another source is ALREADY_EXISTS; an unknown source NOT_FOUND. */
  createSnapshot?(request: CreateSnapshotRequest): Promise<ProvisionedSnapshot>;
  /** Deletes a snapshot; one that does not exist (any more), or an id that does not parse, is a success. */
  deleteSnapshot?(snapshotId: string): Promise<void>;
  /**
   * The snapshots this backend can see, or those of one id or one source volume (an id that
   * does not parse matches nothing). In any order: the CSI shim sorts them.
   */
  listSnapshots?(filter: { snapshotId?: string; sourceVolumeId?: string }): Promise<ProvisionedSnapshot[]>;
  /** Every volume this backend provisioned and can see, in any order. */
  listVolumes?(): Promise<ListedVolume[]>;
}

/** A backend of any Source type, as the MountManager holds them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyBackend = Backend<any, any>;
