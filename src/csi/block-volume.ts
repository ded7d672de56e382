import { lstat, open, readFile, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SharemountError, invalidArgument } from '../errors.js';
import { encodeComponent } from '../escape.js';
import type { Logger } from '../logger.js';
import { mount, unmountPublication } from '../mount-command.js';
import { mountAt, parseMountInfo, readMountInfoText, type MountInfoEntry } from '../mountinfo.js';

/*
 * Raw block volumes (`volumeMode: Block`, docs/csi.md "Raw block volumes"). There is no share:
 * a device node needs no filesystem mounted, so the MountManager keeps no reference and the
 * kernel's mount table is the only record, as it is for NodePublishVolume's targets.
 * - NodeStageVolume bind-mounts the backend's device node onto a file in the staging directory,
 *   named after the volume (`block-<escaped volume id>`): the name is the volume's label.
 * - NodePublishVolume bind-mounts that staging file onto the target file (made by the plugin).
 * - NodeUnpublishVolume and NodeUnstageVolume unmount them and remove the empty files.
 * Every bind shows the device node's inode (same device and root in mountinfo), so a target
 * tells which volume it shows by the staging file it shares them with.
 */

const prefix = 'block-';
/** Staging file names stay within one name's 255 bytes. */
const maxNameBytes = 255 - prefix.length;
/** Mounts stacked on one path that an unmount takes off, at most (a retried bind can leave two). */
const maxLayers = 8;

/** The staging file of volume `volumeId` in the staging directory `staging`. */
export function blockStagingFile(staging: string, volumeId: string): string {
  return join(staging, `${prefix}${encodeComponent(volumeId, maxNameBytes)}`);
}

function isBlockStagingFile(path: string): boolean {
  return basename(path).startsWith(prefix);
}

/** The staging files among the mounts that show the same device node as the mount at `path` (itself included). */
export function blockStagingFilesShowing(table: string, path: string): string[] {
  const top = mountAt(table, path);
  if (top === undefined) return [];
  return sameNode(table, top).filter((entry) => isBlockStagingFile(entry.mountPoint)).map((entry) => entry.mountPoint);
}

/** The block staging files mounted in the directory `staging` (any volume's). */
export function blockStagingFilesIn(table: string, staging: string): string[] {
  return parseMountInfo(table).filter((entry) => dirname(entry.mountPoint) === staging && isBlockStagingFile(entry.mountPoint)).map((entry) => entry.mountPoint);
}

/**
 * Stages: bind-mounts `device` onto the volume's staging file, made empty here. A staging file
 * that already shows the same device node is a success; one showing another device is
 * FAILED_PRECONDITION (the staging path is in use with other parameters).
 */
export async function stageBlock(device: string, staging: string, volumeId: string, timeoutMs: number): Promise<'staged' | 'already-staged'> {
  const file = blockStagingFile(staging, volumeId);
  const deviceInfo = await stat(device);
  if (!deviceInfo.isBlockDevice()) throw new SharemountError('FAILED_PRECONDITION', `the volume's device ${device} is not a block device`);
  const table = readMountInfoText();
  const others = blockStagingFilesIn(table, staging).filter((other) => other !== file);
  if (others.length > 0) {
    throw new SharemountError('FAILED_PRECONDITION', `staging_target_path: ${staging} holds another block volume (${others.map((o) => basename(o)).join(', ')}); unstage it first`, { field: 'staging_target_path' });
  }
  if (mountAt(table, file) !== undefined) {
    const staged = await stat(file);
    if (staged.isBlockDevice() && staged.rdev === deviceInfo.rdev) return 'already-staged';
    throw new SharemountError('FAILED_PRECONDITION', `staging_target_path: ${file} shows another device than volume ${volumeId}'s`, { field: 'staging_target_path' });
  }
  await makeEmptyFile(file, 'staging_target_path');
  // The caller holds the staging file's lock: the mount inherits it (MountManager.withTargetLock).
  await mount({ bind: true, inheritLocks: true, source: device, target: file }, timeoutMs);
  return 'staged';
}

/**
 * Unstages the volume's staging file in `staging`: unmounts it and removes the empty file.
 * False when there is no such file (not a block volume, or unstaged already).
 */
export async function unstageBlock(staging: string, volumeId: string, timeoutMs: number, logger: Logger): Promise<boolean> {
  const file = blockStagingFile(staging, volumeId);
  const unmounted = await unmountLayers(file, timeoutMs, logger);
  const removed = await removeEmptyFile(file, 'staging_target_path');
  return unmounted || removed;
}

/**
 * Publishes: bind-mounts the volume's staging file onto `target`, a file the plugin makes (the
 * CO makes only its parent). A target that already shows the same device node is a success;
 * anything else mounted there is ALREADY_EXISTS. With `singleWriter`, a second target of the
 * volume is FAILED_PRECONDITION.
 */
export async function publishBlock(staging: string, target: string, volumeId: string, singleWriter: boolean, timeoutMs: number): Promise<'published' | 'already-published'> {
  const file = blockStagingFile(staging, volumeId);
  const table = readMountInfoText();
  const staged = mountAt(table, file);
  if (staged === undefined) {
    throw new SharemountError('FAILED_PRECONDITION', `volume ${volumeId} is not staged as a block volume at staging_target_path ${staging}; NodeStageVolume must succeed first`, { field: 'staging_target_path' });
  }
  const current = mountAt(table, target);
  if (current !== undefined) {
    if (current.device === staged.device && current.root === staged.root) return 'already-published';
    throw new SharemountError('ALREADY_EXISTS', `target_path: ${target} is already a mount point of something other than this volume`, { field: 'target_path' });
  }
  if (singleWriter) {
    const others = sameNode(table, staged).filter((entry) => entry.mountPoint !== file && entry.mountPoint !== target);
    if (others.length > 0) {
      throw new SharemountError('FAILED_PRECONDITION', `volume ${volumeId} is SINGLE_NODE_SINGLE_WRITER and already published at ${others.map((o) => o.mountPoint).join(', ')}`, { field: 'target_path' });
    }
  }
  await makeEmptyFile(target, 'target_path');
  // The caller holds the target's lock: the mount inherits it (MountManager.withTargetLock).
  await mount({ bind: true, noCanonicalize: true, inheritLocks: true, source: file, target }, timeoutMs);
  return 'published';
}

/** Bytes of the block device at `path` (a bind of its node), from sysfs: no ioctl, no command. */
export async function blockDeviceBytes(path: string): Promise<number> {
  const info = await stat(path, { bigint: true });
  if (!info.isBlockDevice()) throw new SharemountError('FAILED_PRECONDITION', `volume_path: ${path} is not a block device`, { field: 'volume_path' });
  const { rdev } = info;
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  // sysfs counts 512-byte sectors whatever the device's logical block size.
  const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
  return sectors * 512;
}

/** Unmounts every layer at `path` (the table first: nothing is looked up); whether one was there. */
export async function unmountLayers(path: string, timeoutMs: number, logger: Logger): Promise<boolean> {
  let mounted = false;
  for (let layer = 0; layer < maxLayers && mountAt(readMountInfoText(), path) !== undefined; layer++) {
    await unmountPublication(path, timeoutMs, logger);
    mounted = true;
  }
  return mounted;
}

/** Makes `path` an empty regular file, or accepts one that is (a retry). */
async function makeEmptyFile(path: string, field: string): Promise<void> {
  try {
    const handle = await open(path, 'wx', 0o600);
    await handle.close();
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SharemountError('NOT_FOUND', `${field}: its parent ${dirname(path)} does not exist (the CO creates it)`, { field });
    if (code !== 'EEXIST') throw error;
  }
  const info = await lstat(path);
  if (!info.isFile()) throw invalidArgument(field, `${path} exists and is not a regular file (a block volume is published on a file)`);
}

/**
 * Removes `path` when it is an empty regular file (one this plugin made to mount on); a file with
 * data is someone's, never deleted. False when nothing was there.
 */
export async function removeEmptyFile(path: string, field: string): Promise<boolean> {
  let info;
  try {
    info = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  if (!info.isFile() || info.size !== 0) {
    throw new SharemountError('FAILED_PRECONDITION', `${field}: ${path} is not an empty file this plugin made; left alone`, { field });
  }
  await rm(path, { force: true });
  return true;
}

/** The mounts showing the same inode of the same filesystem as `entry` (a device node's binds). */
function sameNode(table: string, entry: MountInfoEntry): MountInfoEntry[] {
  return parseMountInfo(table).filter((other) => other.device === entry.device && other.root === entry.root);
}

