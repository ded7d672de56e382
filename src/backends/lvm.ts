import type { Backend, CreateSnapshotRequest, CreateVolumeRequest, ShareMountContext, VolumeSpec } from '../backend.js';
import { fromZodError, invalidArgument } from '../errors.js';
import { mount } from '../mount-command.js';
import { isReadOnly } from '../options.js';
import { lvmCli, type LvmCliOptions } from './lvm/lvm-cli.js';
import { lvm2DeviceResolver, type LvmDeviceResolver } from './lvm/device.js';
import { ensureFilesystem } from './lvm/filesystem.js';
import { parseMkfsOptions } from './lvm/mkfs-options.js';
import { tagProblem } from './lvm/names.js';
import { capacity, createVolume, deleteVolume, describeVolume, expandVolume, readLvs, requireOwned, type LvmProvisioner } from './lvm/provisioning.js';
import { createLvmSnapshot, deleteLvmSnapshot, listLvmSnapshots, listLvmVolumes } from './lvm/snapshots.js';
import { lvmParametersSchema, lvmSourceSchema, parseLvmParameters, type LvmParameters, type LvmParametersInput, type LvmSource } from './lvm/schemas.js';
import { stat } from 'node:fs/promises';
import { KeyedLock } from '../lock.js';
import { withTimeout } from '../timeout.js';

export type { LvmSource, LvmParameters, LvmParametersInput } from './lvm/schemas.js';
export type { LvmCliOptions } from './lvm/lvm-cli.js';
export type { LvmDeviceResolver } from './lvm/device.js';
export type { FsType } from './lvm/mkfs-options.js';
export { parseQuantity } from './lvm/quantity.js';
export { lvmSourceSchema, lvmParametersSchema } from './lvm/schemas.js';

/** Options of `lvmBackend`; every one has a production default. */
export interface LvmBackendOptions {
  /** How lvm2 runs: binary, environment (`LVM_SYSTEM_DIR`), `--config` arguments, timeout. */
  lvm?: LvmCliOptions;
  /**
   * The LV's block device, activating it when needed (default: `lvchange --activate y`, then
   * `/dev/<vg>/<lv>`). Replace it where device-mapper is missing (tests stand in a loop device).
   */
  devicePath?: (vg: string, lv: string) => Promise<string>;
  /**
   * The LV's device if it is active, never activating it (default: lvm2's kernel major/minor).
   * When only `devicePath` is given, it is used here too.
   */
  activeDevicePath?: (vg: string, lv: string) => Promise<string | undefined>;
  /** Tag on every LV createVolume makes; deleteVolume removes only LVs with it. Default `sharemount`. */
  ownerTag?: string;
  /**
   * Mount any LV a volume names, not only those that carry `ownerTag`. By default only LVs
   * this backend created (createVolume tags them) or an administrator tagged
   * (`lvchange --addtag <ownerTag>`) are mounted, checked with one `lvs` per publication: a
   * volume's options may be written by a pod author (a FlexVolume or CSI inline volume), who
   * must not reach the node's own LVs (`vg0/root`). Set it only where every volume is written
   * by an administrator. Default false.
   */
  mountAnyLogicalVolume?: boolean;
  timeouts?: {
    /** mkfs of a new volume (default 10 minutes: discards on a large device take a while). */
    mkfsMs?: number;
    /** e2fsck, resize2fs and xfs_growfs (default 10 minutes). */
    fsckMs?: number;
  };
}

const defaultFsMs = 600_000;

/**
 * The LVM backend: a share is one logical volume's filesystem, formatted on first mount when the
 * device is blank and never otherwise, and consumers get bind mounts into it. Provisions LVs
 * (linear or thin), deletes them when unmounted, extends them with their filesystem, and reports
 * free space. See docs/backends/lvm.md.
 */
export function lvmBackend(options: LvmBackendOptions = {}) {
  const lvm = lvmCli(options.lvm);
  const ownerTag = options.ownerTag ?? 'sharemount';
  const ownerTagProblem = tagProblem(ownerTag);
  if (ownerTagProblem !== undefined) throw invalidArgument('ownerTag', `tag ${ownerTagProblem}`);
  const devices = deviceResolver(options, lvm);
  const fsMs = { mkfsMs: options.timeouts?.mkfsMs ?? defaultFsMs, fsckMs: options.timeouts?.fsckMs ?? defaultFsMs };
  // Node-wide (devices are), across processes; waits as long as one probe and format may take.
  const formatLock = new KeyedLock('lvm-format', 2 * fsMs.mkfsMs);
  const provisioner: LvmProvisioner = { lvm, devices, ownerTag, timeouts: { commandMs: options.lvm?.timeoutMs ?? 60_000, fsckMs: fsMs.fsckMs } };

  return {
    name: 'lvm',
    sourceSchema: lvmSourceSchema,
    parameters: lvmParametersSchema,

    // fsType is part of the share's identity: a publication asking for xfs on an LV that an ext4
    // share already mounts gets its own share, whose mount refuses the mismatch, instead of
    // silently joining the ext4 share. mkfsOptions matter only once and are not.
    layout(source: LvmSource): Array<readonly [string, string]> {
      const layout: Array<readonly [string, string]> = [['vg', source.vg], ['lv', source.lv]];
      if (source.fsType !== undefined) layout.push(['fs', source.fsType]);
      return layout;
    },

    // Owned or tagged only, unless the driver opted in to any LV (secure by default).
    ...(options.mountAnyLogicalVolume === true ? {} : { admit: (source: LvmSource) => requireOwned(provisioner, source.vg, source.lv) }),

    async mount(context: ShareMountContext<LvmSource>): Promise<void> {
      const parsed = lvmSourceSchema.safeParse(context.source);
      if (!parsed.success) throw fromZodError(parsed.error, 'source');
      const source = parsed.data;
      const device = await devices.devicePath(source.vg, source.lv);
      // One look-and-format per device on this node, whichever share (option set) asks; keyed by
      // the device number, so that two names of one device (/dev/vg/lv, /dev/mapper/vg-lv) are one.
      const { rdev } = await withTimeout(stat(device), context.timeoutMs, 'looking at the device');
      const { fsType, formatted } = await formatLock.withLock(`device:${rdev}`, () =>
        ensureFilesystem(device, {
          wanted: source.fsType,
          mkfsOptions: parseMkfsOptions(source.mkfsOptions, source.fsType ?? 'ext4'),
          readOnly: isReadOnly(context.options),
          probeTimeoutMs: context.timeoutMs,
          mkfsTimeoutMs: fsMs.mkfsMs,
        }),
      );
      if (formatted) context.logger.info({ vg: source.vg, lv: source.lv, device, fsType }, 'formatted a blank logical volume');
      context.logger.debug({ vg: source.vg, lv: source.lv, device, fsType }, 'mounting logical volume');
      await mount({ fsType, source: device, target: context.mountPoint, options: context.options, sensitiveOptions: context.sensitiveOptions }, context.timeoutMs);
    },

    // A raw block volume is the LV's device itself, never formatted.
    blockDevice: (source: LvmSource) => devices.devicePath(source.vg, source.lv),

    toVolume(input: LvmParametersInput): VolumeSpec<LvmSource> {
      const params = parseLvmParameters(input);
      if (params.logicalVolume === undefined) throw invalidArgument('parameters.logicalVolume', 'is required to publish a volume');
      const source: LvmSource = { backend: 'lvm', vg: params.volumeGroup, lv: params.logicalVolume, fsType: params.fsType };
      if (params.mkfsOptions !== undefined) source.mkfsOptions = params.mkfsOptions;
      return { source, options: params.mountOptions };
    },

    // A logical volume is on one node's disks.
    nodeLocal: true,
    // Parameters may come raw (flat strings) or parsed; each method validates them again. The
    // volume id `<vg>/<lv>` is enough to delete or expand, so parameters are optional there.
    createVolume: (request: CreateVolumeRequest<LvmParametersInput>) => createVolume(provisioner, request),
    deleteVolume: (volumeId: string, parameters?: LvmParametersInput) => deleteVolume(provisioner, volumeId, parameters),
    describeVolume: (volumeId: string) => describeVolume(provisioner, volumeId),
    expandVolume: (volumeId: string, capacityBytes: number, parameters?: LvmParametersInput, options?: { filesystem?: boolean }) => expandVolume(provisioner, volumeId, capacityBytes, parameters, options),
    capacity: (parameters: LvmParametersInput) => capacity(provisioner, parameters),
    // Snapshots with lvcreate --snapshot; volumes from snapshots or volumes in thin pools only.
    contentSources: ['snapshot', 'volume'] as const,
    createSnapshot: (request: CreateSnapshotRequest) => createLvmSnapshot(provisioner, request, (vg) => readLvs(provisioner, vg)),
    deleteSnapshot: (snapshotId: string) => deleteLvmSnapshot(provisioner, snapshotId, (vg) => readLvs(provisioner, vg)),
    listSnapshots: (filter: { snapshotId?: string; sourceVolumeId?: string }) => listLvmSnapshots(provisioner, filter),
    listVolumes: () => listLvmVolumes(provisioner),
  } satisfies Backend<LvmSource, LvmParameters>;
}

function deviceResolver(options: LvmBackendOptions, lvm: ReturnType<typeof lvmCli>): LvmDeviceResolver {
  const production = lvm2DeviceResolver(lvm);
  const devicePath = options.devicePath ?? production.devicePath;
  const activeDevicePath = options.activeDevicePath ?? (options.devicePath ?? production.activeDevicePath);
  return { devicePath, activeDevicePath };
}
