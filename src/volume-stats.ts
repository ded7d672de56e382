import { run } from './exec.js';
import { SharemountError, isSharemountError } from './errors.js';
import { isBrokenMountMessage } from './broken-mount.js';

/** Capacity and usage of the filesystem under a path, as CSI NodeGetVolumeStats reports it. */
export interface VolumeStats {
  totalBytes: number;
  usedBytes: number;
  /** Bytes an unprivileged writer can still use (statfs `f_bavail`). */
  availableBytes: number;
  totalInodes: number;
  usedInodes: number;
  freeInodes: number;
}

// statfs fields in one line: fundamental block size, total, free, available blocks, total and
// free inodes. `%S` is f_frsize, the unit of the block counts (what df uses).
const format = '%S %b %f %a %c %d';

/**
 * statfs of `path`, run in a child process (`stat -f`) that is killed after `timeoutMs`: on a
 * hung NFS mount statfs blocks in the kernel, and a blocked call in this process would hold a
 * libuv thread forever. Throws SharemountError TIMEOUT (hung), BROKEN_MOUNT (ENOTCONN, ESTALE,
 * EIO, EACCES...: broken-mount.ts), NOT_FOUND (no such path), FAILED_PRECONDITION (no `stat` on PATH) or COMMAND_FAILED.
 */
export async function volumeStats(path: string, timeoutMs: number): Promise<VolumeStats> {
  let stdout: string;
  try {
    ({ stdout } = await run('stat', ['--file-system', `--format=${format}`, '--', path], { timeoutMs, env: { LC_ALL: 'C', LANG: 'C' } }));
  } catch (error) {
    if (isSharemountError(error, 'COMMAND_FAILED')) {
      const stderr = String(error.details?.stderr ?? '');
      // stat(1) prints strerror() text: the broken-mount classifier's errnos, by their messages.
      if (isBrokenMountMessage(stderr)) throw new SharemountError('BROKEN_MOUNT', `${path} is on a broken mount: ${stderr.trim()}`, { cause: error });
      if (/No such file or directory/.test(stderr)) throw new SharemountError('NOT_FOUND', `${path} does not exist`, { cause: error });
    }
    throw error;
  }
  return parseStatFs(stdout);
}

/** Parses the `stat -f` line of `volumeStats`; exported for tests. */
export function parseStatFs(line: string): VolumeStats {
  const fields = line.trim().split(/\s+/);
  const numbers = fields.map(Number);
  if (fields.length !== 6 || numbers.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new SharemountError('INTERNAL', `unexpected output of stat -f: ${JSON.stringify(line.slice(0, 200))}`);
  }
  const [blockSize, blocks, freeBlocks, availableBlocks, inodes, freeInodes] = numbers as [number, number, number, number, number, number];
  return {
    totalBytes: blocks * blockSize,
    usedBytes: (blocks - freeBlocks) * blockSize,
    availableBytes: availableBlocks * blockSize,
    totalInodes: inodes,
    usedInodes: Math.max(0, inodes - freeInodes),
    freeInodes,
  };
}
