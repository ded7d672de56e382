import { mkdtemp, open, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../exec.js';
import { SharemountError, isSharemountError } from '../../errors.js';
import { mount, unmount } from '../../mount-command.js';
import { withTimeout } from '../../timeout.js';
import { fsTypes, type FsType } from './mkfs-options.js';

/** What blkid's low-level probe found on a device. */
export interface DeviceSignature {
  /** A filesystem (or other content: swap, crypto_LUKS, LVM2_member...). */
  type?: string;
  /** A partition table (dos, gpt). */
  partitionTable?: string;
}

const commandEnv = { LC_ALL: 'C', LANG: 'C' };

/** Parses `blkid -o export` output (`KEY=value` lines). */
export function parseBlkidExport(text: string): DeviceSignature {
  const signature: DeviceSignature = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq === -1) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'TYPE') signature.type = value;
    else if (key === 'PTTYPE') signature.partitionTable = value;
  }
  return signature;
}

/**
 * Probes the device itself (`-p`: no blkid cache, which can be stale). blkid exits 2 when it
 * finds nothing, which is the one answer that allows formatting; 8 means two signatures that
 * contradict each other, which is refused like any other content. blkid also exits 2, silently,
 * when it cannot open or read the device at all (a missing node, an I/O error): so "nothing
 * found" counts only once the device's start has been read here (see `assertReadable`).
 */
export async function probeDevice(device: string, timeoutMs: number): Promise<DeviceSignature> {
  try {
    const { stdout } = await run('blkid', ['-p', '-o', 'export', '--', device], { timeoutMs, env: commandEnv });
    return parseBlkidExport(stdout);
  } catch (error) {
    if (isSharemountError(error, 'COMMAND_FAILED') && error.details?.exitCode === 2) {
      await assertReadable(device, timeoutMs);
      return {};
    }
    if (isSharemountError(error, 'COMMAND_FAILED') && error.details?.exitCode === 8) {
      throw new SharemountError('FAILED_PRECONDITION', `${device} carries contradicting signatures; refusing to format or mount it`, { cause: error });
    }
    throw error;
  }
}

/** The bytes where every signature blkid knows of at a device's start lies (superblocks, labels). */
const probedBytes = 64 * 1024;

/**
 * Reads the device's first bytes, so that blkid's "nothing found" is known to come from a
 * device it could read: one that cannot be opened or read, or that is empty, is refused
 * (FAILED_PRECONDITION), never formatted. Bounded: a read of a hung device never returns.
 */
async function assertReadable(device: string, timeoutMs: number): Promise<void> {
  const reading = (async () => {
    const handle = await open(device, 'r');
    try {
      return (await handle.read(Buffer.alloc(probedBytes), 0, probedBytes, 0)).bytesRead;
    } finally {
      await handle.close();
    }
  })();
  reading.catch(() => {}); // a hung read's late failure, after the bound has answered
  let bytesRead: number;
  try {
    bytesRead = await withTimeout(reading, timeoutMs, `reading ${device}`);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SharemountError('FAILED_PRECONDITION', `${device} could not be read (${why}), so blkid's "no signature" proves nothing; refusing to format it`, { cause: error });
  }
  if (bytesRead === 0) throw new SharemountError('FAILED_PRECONDITION', `${device} is empty (nothing could be read); refusing to format it`);
}

/** argv for formatting: quiet, the validated options, then the device after `--`. */
export function mkfsCommand(fsType: FsType, mkfsOptions: readonly string[], device: string): { command: string; args: string[] } {
  return { command: `mkfs.${fsType}`, args: ['-q', ...mkfsOptions, '--', device] };
}

/**
 * Makes sure `device` holds a filesystem of `wanted` (or any supported one when `wanted` is
 * undefined) and returns its type. A blank device is formatted; a device with anything on it is
 * never formatted: a different filesystem, a partition table or other content is refused with
 * FAILED_PRECONDITION naming `fsType`. The caller serialises this per device: mke2fs run
 * without a terminal formats over an existing filesystem, so two shares of one LV (other
 * options) that both found it blank would both format it.
 */
export async function ensureFilesystem(
  device: string,
  request: { wanted?: FsType; mkfsOptions: readonly string[]; readOnly: boolean; probeTimeoutMs: number; mkfsTimeoutMs: number },
): Promise<{ fsType: FsType; formatted: boolean }> {
  const found = await probeDevice(device, request.probeTimeoutMs);
  if (found.type !== undefined) {
    if (request.wanted !== undefined && found.type !== request.wanted) {
      throw new SharemountError('FAILED_PRECONDITION', `fsType: ${device} already holds ${found.type}, not ${request.wanted}; refusing to mount it as ${request.wanted} or to reformat it`, { field: 'fsType' });
    }
    if (!(fsTypes as readonly string[]).includes(found.type)) {
      throw new SharemountError('FAILED_PRECONDITION', `fsType: ${device} holds ${found.type}, which this backend does not mount (only ${fsTypes.join(', ')})`, { field: 'fsType' });
    }
    return { fsType: found.type as FsType, formatted: false };
  }
  if (found.partitionTable !== undefined) {
    throw new SharemountError('FAILED_PRECONDITION', `${device} holds a ${found.partitionTable} partition table; refusing to format it`, { field: 'fsType' });
  }
  if (request.readOnly) {
    throw new SharemountError('FAILED_PRECONDITION', `${device} has no filesystem and the mount is read-only, so it cannot be formatted`);
  }
  const fsType = request.wanted ?? 'ext4';
  const { command, args } = mkfsCommand(fsType, request.mkfsOptions, device);
  // Inheriting the locks: an mkfs orphaned by our death keeps the device's format lock (and the
  // share's) until it ends, so a retry cannot find the device still blank and format it again.
  await run(command, args, { timeoutMs: request.mkfsTimeoutMs, env: commandEnv, inheritLocks: true });
  return { fsType, formatted: true };
}

/**
 * Grows a mounted filesystem to fill its (already extended) device: ext4 with resize2fs on the
 * device, xfs with xfs_growfs on a mount point. Online ext4 growth needs CAP_SYS_RESOURCE in the
 * initial user namespace; without it the kernel says EPERM, reported as FAILED_PRECONDITION.
 */
export async function growMounted(fsType: FsType, device: string, mountPoint: string, timeoutMs: number): Promise<void> {
  try {
    if (fsType === 'ext4') await run('resize2fs', ['--', device], { timeoutMs, env: commandEnv });
    else await run('xfs_growfs', ['--', mountPoint], { timeoutMs, env: commandEnv });
  } catch (error) {
    if (isSharemountError(error, 'COMMAND_FAILED') && /Permission denied to resize/.test(String(error.details?.stderr ?? ''))) {
      throw new SharemountError(
        'FAILED_PRECONDITION',
        `resize2fs could not grow the mounted ext4 filesystem on ${device}: the kernel refused (online ext4 resize needs CAP_SYS_RESOURCE); the logical volume is extended, so retrying with the capability or while it is unmounted finishes the job`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Grows an unmounted filesystem: ext4 offline (resize2fs insists on a forced e2fsck first;
 * e2fsck -p exit 1 means it fixed something harmless), xfs through a short private mount, since
 * xfs only grows while mounted. e2fsck refuses a device mounted in another namespace.
 */
export async function growUnmounted(fsType: FsType, device: string, timeouts: { commandMs: number; checkMs: number }): Promise<void> {
  if (fsType === 'ext4') {
    try {
      await run('e2fsck', ['-f', '-p', '--', device], { timeoutMs: timeouts.checkMs, env: commandEnv });
    } catch (error) {
      if (!(isSharemountError(error, 'COMMAND_FAILED') && error.details?.exitCode === 1)) throw error;
    }
    await run('resize2fs', ['--', device], { timeoutMs: timeouts.checkMs, env: commandEnv });
    return;
  }
  const mountPoint = await mkdtemp(join(tmpdir(), 'sharemount-xfs-grow-'));
  try {
    await mount({ fsType, source: device, target: mountPoint }, timeouts.commandMs);
    try {
      await growMounted(fsType, device, mountPoint, timeouts.checkMs);
    } finally {
      await unmount(mountPoint, timeouts.commandMs);
    }
  } finally {
    await rmdir(mountPoint);
  }
}
