import { realpathSync } from 'node:fs';
import { posix } from 'node:path';
import * as z from '../zod.js';
import { invalidArgument } from '../errors.js';
import { mount } from '../mount-command.js';
import { flagsOfMountId, withCopiedFlags } from '../mount-flags.js';
import { mountIdOf } from '../mount-point.js';
import { withTimeout } from '../timeout.js';
import { checkSubPath } from '../subpath.js';
import { isWithin } from '../target.js';
import { isInside, placeIfPresent, placeOfExisting } from '../identity.js';
import type { Backend, CreateSnapshotRequest, CreateVolumeRequest, VolumeSpec } from '../backend.js';
import { optionName, type OptionList } from '../options.js';
import { BindProvisioner, type BindProvisioningOptions } from './bind/provisioning.js';
import { volumeRecordsDir } from '../volume-records.js';
import { snapshotsDir } from '../snapshots/directory-snapshots.js';

export type { BindProvisioningOptions } from './bind/provisioning.js';
export { directoryOf } from './bind/provisioning.js';

/** A host directory as the source: `{ backend: 'bind', path: '/srv/data' }`. */
export interface BindSource {
  backend: 'bind';
  /** Absolute, normalised path of an existing directory on the host. */
  path: string;
}

/**
 * Volume parameters after validation, as toVolume and createVolume receive them. A driver may
 * pass the flags as strings too (`readOnly: 'true'`): the schema turns them into booleans.
 */
export interface BindParameters {
  path: string;
  subPath?: string;
  readOnly?: boolean;
  mountOptions?: string;
  createIfNecessary?: boolean;
  createMode?: string;
}

const absolutePath = z.string().check(
  z.minLength(1, 'is required'),
  z.maxLength(4096, 'is longer than 4096 bytes'),
  z.refine((p) => !/[\u0000-\u001f\u007f]/.test(p), 'contains a NUL or control character'),
  z.refine((p) => p.isWellFormed(), 'is not valid Unicode (a lone surrogate)'),
  z.refine((p) => p.startsWith('/'), 'must be an absolute path'),
  z.refine((p) => p === '/' || (posix.normalize(p) === p && !p.endsWith('/')), 'must be a normalised path (no ".", "..", "//" or trailing "/")'),
);

const sourceSchema = z.strictObject({ backend: z.literal('bind'), path: absolutePath });

const booleanString = z.union([z.boolean(), z.pipe(z.enum(['true', 'false']), z.transform((v) => v === 'true'))]);

// Typed with the named interface, not left to inference: the bundled declarations then say
// `BindParameters` where inference would print zod's `z.infer<...>`, which tsup's declaration
// bundler emitted as a bare `infer<...>` (a keyword) and broke every importer's compile.
const parametersSchema: z.ZodMiniType<BindParameters> = z.strictObject({
  path: absolutePath,
  subPath: z.optional(z.string()),
  readOnly: z.optional(booleanString),
  mountOptions: z.optional(z.string()),
  createIfNecessary: z.optional(booleanString),
  createMode: z.optional(z.string().check(z.regex(/^0?[0-7]{3,4}$/, 'must be an octal mode like "0755"'))),
});

// A bind mount takes only the per-mount flags; anything else would be silently ignored by the kernel.
const allowedOptions = new Set(['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'noatime', 'atime', 'relatime', 'nodiratime', 'strictatime', 'nosymfollow']);

/**
 * A volume of the provisioning root is one of its sub-directories: the root itself, or anything
 * above it, would show every volume, and its records directory the provisioner's records (which
 * a consumer could then forge, or swap for a symlink). Judged on the directory the publication
 * would show, by real paths (the core refuses a symlink in the sub-path), so no spelling of
 * `path` and `subPath` reaches them.
 */
function refuseProvisioningRoot(root: string, path: string, subPath: string): void {
  const real = (p: string) => {
    try {
      return realpathSync.native(p);
    } catch {
      return posix.normalize(p).replace(/(.)\/$/, '$1'); // not there (yet): the core says so
    }
  };
  const volumesRoot = real(root);
  const shown = subPath === '' ? real(path) : posix.join(real(path), subPath);
  // By path, and by identity: another path to the same directories (a bind mount) counts too.
  const rootPlace = placeIfPresent(root);
  const shownPlace = placeIfPresent(shown);
  if (isWithin(volumesRoot, shown) || (rootPlace !== undefined && shownPlace !== undefined && isInside(rootPlace, shownPlace))) {
    throw invalidArgument('subPath', `must name a volume of ${root}, which holds this driver's volumes: ${root} itself, or a directory above it, is no one volume`);
  }
  // The records and the snapshots, by path and by identity: neither is a volume.
  const shownOrAbove = placeOfExisting(shown);
  for (const [dir, what] of [[volumeRecordsDir, 'records'], [snapshotsDir, 'snapshots']] as const) {
    const reserved = posix.join(volumesRoot, dir);
    const reservedPlace = placeIfPresent(reserved);
    if (isWithin(shown, reserved) || (reservedPlace !== undefined && shownOrAbove !== undefined && isInside(shownOrAbove, reservedPlace))) {
      throw invalidArgument('subPath', `reaches ${dir}, the provisioner's ${what}, which are no volume`);
    }
  }
}

export interface BindBackendOptions {
  /** Enables createVolume and deleteVolume: volumes as sub-directories of one host directory (node-local). */
  provisioning?: BindProvisioningOptions;
  /**
   * The host directories this backend may mount, each with everything under it, judged on the
   * directory actually opened (symlinks resolved). Default: none, so every path is refused
   * (a volume's `path` may be written by a pod author: a FlexVolume or CSI inline volume), except,
   * with `provisioning`, its own root. `['/']` serves any host directory but the state root:
   * only for a driver whose every volume an administrator writes.
   */
  allowedPaths?: readonly string[];
}

/**
 * The bind backend: a directory of the host mounted once (a bind mount) as a share, so that
 * consumers of its sub-directories share one mount, and the share's options (`ro`, `nosuid`...)
 * apply to all of them. With `provisioning`, it also creates and deletes volumes as
 * sub-directories of one host directory.
 */
export function bindBackend(options: BindBackendOptions = {}) {
  const provisioner = options.provisioning === undefined ? undefined : new BindProvisioner(options.provisioning);
  const allowedPaths = options.allowedPaths?.map((path, i) => {
    if (typeof path !== 'string' || !path.startsWith('/')) throw invalidArgument(`allowedPaths[${i}]`, 'must be an absolute path');
    return path;
  }) ?? (options.provisioning === undefined ? [] : [options.provisioning.root]);
  return {
    name: 'bind',
    sourceSchema,
    layout: (source: BindSource) => [['path', source.path]] as const,
    checkOptions(options: OptionList, field: string) {
      options.forEach((option, index) => {
        // The name only: a value may be a secret nobody marked as one.
        if (!allowedOptions.has(option)) throw invalidArgument(`${field}[${index}]`, `"${optionName(option)}" is not a bind-mount option (allowed: ${[...allowedOptions].join(', ')})`);
      });
    },
    hostDirectory: (source: BindSource) => ({ path: source.path, field: 'source.path', allowedUnder: allowedPaths, allowedBy: "the bind backend's option allowedPaths" }),
    async mount({ source, options, mountPoint, timeoutMs, hostDirectoryPath }) {
      // The directory the core opened and checked, never source.path resolved again.
      const from = hostDirectoryPath ?? source.path;
      // With options, util-linux remounts the new bind mount with exactly those flags, which
      // would drop the source mount's own (ro, nosuid...): the share keeps them.
      const flags = options.length === 0 ? [] : withCopiedFlags(options, flagsOfMountId(await withTimeout(mountIdOf(from, { follow: hostDirectoryPath !== undefined }), timeoutMs, 'checking the source')) ?? []);
      await mount({ bind: true, noCanonicalize: hostDirectoryPath !== undefined, source: from, target: mountPoint, options: flags }, timeoutMs);
    },
    parameters: parametersSchema,
    toVolume(parameters: BindParameters): VolumeSpec<BindSource> {
      const subPath = checkSubPath(parameters.subPath, 'subPath');
      if (provisioner !== undefined) refuseProvisioningRoot(provisioner.root, parameters.path, subPath);
      return {
        source: { backend: 'bind', path: parameters.path },
        options: parameters.mountOptions === undefined ? [] : parameters.mountOptions.split(','),
        subPath,
        createIfNecessary: parameters.createIfNecessary ?? false,
        ...(parameters.readOnly === undefined ? {} : { readOnly: parameters.readOnly }),
        ...(parameters.createMode === undefined ? {} : { createMode: Number.parseInt(parameters.createMode, 8) }),
      };
    },
    // A host directory is on one node only.
    nodeLocal: true,
    ...(provisioner
      ? {
          createVolume: (request: CreateVolumeRequest<BindParameters>) => provisioner.createVolume(request),
          deleteVolume: (volumeId: string) => provisioner.deleteVolume(volumeId),
          describeVolume: (volumeId: string) => provisioner.describeVolume(volumeId),
          expandVolume: (volumeId: string, capacityBytes: number) => provisioner.expandVolume(volumeId, capacityBytes),
          // statfs in a child process, bounded: the root is a local directory, so 10 s is generous.
          capacity: async () => ({ availableBytes: await provisioner.availableBytes(10_000) }),
          contentSources: ['snapshot', 'volume'] as const,
          createSnapshot: (request: CreateSnapshotRequest) => provisioner.createSnapshot(request),
          deleteSnapshot: (snapshotId: string) => provisioner.deleteSnapshot(snapshotId),
          listSnapshots: (filter: { snapshotId?: string; sourceVolumeId?: string }) => provisioner.listSnapshots(filter),
          listVolumes: () => provisioner.listVolumes(),
        }
      : {}),
  } satisfies Backend<BindSource, BindParameters>;
}
