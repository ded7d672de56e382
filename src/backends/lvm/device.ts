import { stat } from 'node:fs/promises';
import { SharemountError } from '../../errors.js';
import { readMountInfo, type MountInfoEntry } from '../../mountinfo.js';
import { lvActivateArgs, lvsArgs } from './commands.js';
import { parseLvReport } from './reports.js';
import type { LvmCli } from './lvm-cli.js';

/**
 * Where an LV's block device is. Production asks lvm2 (activation makes `/dev/<vg>/<lv>`);
 * machines without device-mapper (this project's CI) inject a resolver that stands a loop
 * device in for the LV at its offset in the PV.
 */
export interface LvmDeviceResolver {
  /** The LV's block device, activating the LV first when needed. NOT_FOUND when it does not exist. */
  devicePath(vg: string, lv: string): Promise<string>;
  /** The LV's block device if it is active now, without activating it; undefined when inactive. */
  activeDevicePath(vg: string, lv: string): Promise<string | undefined>;
}

/** The production resolver: `lvchange --activate y`, then `/dev/<vg>/<lv>`. */
export function lvm2DeviceResolver(lvm: LvmCli): LvmDeviceResolver {
  return {
    async devicePath(vg, lv) {
      await lvm('lvchange', lvActivateArgs(vg, lv), { vg, lv });
      const path = `/dev/${vg}/${lv}`;
      await requireBlockDevice(path);
      return path;
    },
    async activeDevicePath(vg, lv) {
      const row = parseLvReport(await lvm('lvs', lvsArgs(vg), { vg, lv })).find((r) => r.lv_name === lv);
      if (row === undefined || row.lv_kernel_major < 0) return undefined;
      return `/dev/${vg}/${lv}`;
    },
  };
}

/** Throws FAILED_PRECONDITION unless `path` is (a link to) a block device. */
export async function requireBlockDevice(path: string): Promise<void> {
  const info = await stat(path).catch((cause: unknown) => {
    throw new SharemountError('FAILED_PRECONDITION', `${path} does not exist after activation`, { cause });
  });
  if (!info.isBlockDevice()) throw new SharemountError('FAILED_PRECONDITION', `${path} is not a block device`);
}

/** `major:minor` of a block device, as /proc/self/mountinfo writes a filesystem's device. */
export async function deviceNumber(path: string): Promise<string> {
  const { rdev } = await stat(path, { bigint: true });
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/**
 * Every mount in this mount namespace of the filesystem on `device`: its shares and every bind
 * mount made from them (a bind mount keeps the device number of the filesystem it shows).
 */
export async function mountsOfDevice(device: string, mountInfo?: readonly MountInfoEntry[]): Promise<MountInfoEntry[]> {
  const number = await deviceNumber(device);
  const entries = mountInfo ?? (await readMountInfo());
  return entries.filter((entry) => entry.device === number);
}

/** Filesystems a device node can live on (/dev's devtmpfs, a container's tmpfs): looking at them never blocks. */
const deviceNodeFilesystems = new Set(['devtmpfs', 'tmpfs']);

/**
 * The bind mounts of `device`'s node (a CSI raw block volume's staging file and targets): they
 * show the filesystem that holds the node, not the device, so `mountsOfDevice` cannot see them.
 * Only mounts of a single file of devtmpfs or tmpfs are looked at (stat of them never blocks).
 */
export async function bindsOfDeviceNode(device: string, mountInfo?: readonly MountInfoEntry[]): Promise<MountInfoEntry[]> {
  const { rdev } = await stat(device);
  const entries = mountInfo ?? (await readMountInfo());
  const found: MountInfoEntry[] = [];
  for (const entry of entries) {
    if (!deviceNodeFilesystems.has(entry.fsType) || entry.root === '/') continue;
    const info = await stat(entry.mountPoint).catch(() => undefined);
    if (info?.isBlockDevice() && info.rdev === rdev) found.push(entry);
  }
  return found;
}
