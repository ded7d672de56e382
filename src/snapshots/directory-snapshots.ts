import { SharemountError } from '../errors.js';
import type { Logger } from '../logger.js';
import { entryType, makeDirectory, readSmallFile, readSmallFiles, removeFile, removeTree, renameNoReplace, replaceSmallFile } from '../directory-commands.js';
import { copyTree } from './copy-tree.js';
import { formatSnapshotRecord, parseSnapshotRecord, type SnapshotRecord } from './snapshot-records.js';

/*
 * Snapshots of directory volumes (bind, NFS): a snapshot is a full copy of the volume's tree in
 * `<root>/.sharemount-snapshots/<snapshot>/`, with its record beside it (`<snapshot>.json`). A
 * copy is made under `<snapshot>.partial` and renamed into place only when complete, so a crash
 * never leaves a half copy that looks whole: the record says `readyToUse: false` until then, and
 * the next call for the name throws the partial copy away and copies again. The copies are
 * independent of their volume: a snapshot outlives it, and a volume made from one shares nothing
 * with it. `root` is the directory that holds the volumes, reached the way the provisioner
 * reaches it (an export's publication, a host directory).
 */

/** The directory, beside the volumes, that holds the snapshots: never a volume's name (those have no leading dot). */
export const snapshotsDir = '.sharemount-snapshots';

export interface DirectoryCopyOptions {
  /** The process's own directory for copy views (see copy-tree.ts). */
  workDir: string;
  commandTimeoutMs: number;
  copyTimeoutMs: number;
  logger: Logger;
}

/** A snapshot to make of volume directory `volumeDir` of the root. */
export interface DirectorySnapshotRequest {
  name: string;
  /** The snapshot's directory name (a safe name, from the CSI name). */
  snapshotDir: string;
  volumeDir: string;
  sourceVolumeId: string;
  sizeBytes: number;
}

/**
 * Makes the snapshot, idempotent by name: a complete one of the same name and source is answered
 * as it is; the same directory recorded for another name or source is ALREADY_EXISTS.
 */
export async function snapshotDirectory(root: string, request: DirectorySnapshotRequest, options: DirectoryCopyOptions): Promise<SnapshotRecord> {
  const dir = await snapshotsDirectory(root, true, options.commandTimeoutMs);
  const recordPath = `${dir}/${request.snapshotDir}.json`;
  const text = await readSmallFile(recordPath, options.commandTimeoutMs);
  const existing = text === undefined ? undefined : parseSnapshotRecord(text, request.snapshotDir);
  if (existing !== undefined) {
    if (existing.name !== request.name) throw new SharemountError('ALREADY_EXISTS', `snapshot directory ${request.snapshotDir} belongs to another snapshot`, { field: 'name' });
    if (existing.sourceVolumeId !== request.sourceVolumeId) {
      throw new SharemountError('ALREADY_EXISTS', `snapshot ${request.name} exists with another source volume`, { field: 'name' });
    }
    if (existing.readyToUse) return existing;
  }
  const volumePath = `${root}/${request.volumeDir}`;
  if ((await entryType(volumePath, options.commandTimeoutMs)) !== 'directory') throw new SharemountError('NOT_FOUND', `source volume ${request.sourceVolumeId} has no directory`, { field: 'source_volume_id' });
  const finalPath = `${dir}/${request.snapshotDir}`;
  const started: SnapshotRecord = { name: request.name, sourceVolumeId: request.sourceVolumeId, sizeBytes: request.sizeBytes, creationTime: Date.now(), readyToUse: false };
  // A copy renamed into place before a crash is complete: it only lacks its record's "ready".
  if ((await entryType(finalPath, options.commandTimeoutMs)) !== 'directory') {
    await replaceSmallFile(recordPath, formatSnapshotRecord(existing ?? started), options.commandTimeoutMs);
    await copyInto(root, request.volumeDir, finalPath, options);
  }
  const ready = { ...(existing ?? started), readyToUse: true };
  await replaceSmallFile(recordPath, formatSnapshotRecord(ready), options.commandTimeoutMs);
  options.logger.info({ snapshot: request.name, source: request.sourceVolumeId }, 'snapshot copied');
  return ready;
}

/** The snapshot recorded as `snapshotDir`, or undefined. */
export async function findDirectorySnapshot(root: string, snapshotDir: string, timeoutMs: number): Promise<SnapshotRecord | undefined> {
  const dir = await snapshotsDirectory(root, false, timeoutMs);
  if (dir === undefined) return undefined;
  const text = await readSmallFile(`${dir}/${snapshotDir}.json`, timeoutMs);
  return text === undefined ? undefined : parseSnapshotRecord(text, snapshotDir);
}

/** Every snapshot recorded under the root, by directory name. A record that does not parse is skipped (and logged). */
export async function listDirectorySnapshots(root: string, timeoutMs: number, logger: Logger): Promise<Map<string, SnapshotRecord>> {
  const dir = await snapshotsDirectory(root, false, timeoutMs);
  const found = new Map<string, SnapshotRecord>();
  if (dir === undefined) return found;
  for (const [file, text] of await readSmallFiles(dir, '.json', timeoutMs)) {
    const snapshotDir = file.slice(0, -'.json'.length);
    try {
      found.set(snapshotDir, parseSnapshotRecord(text, snapshotDir));
    } catch (error) {
      logger.warn({ snapshotDir, error: String(error) }, 'skipped a snapshot record that does not parse');
    }
  }
  return found;
}

/** Removes the snapshot's copy (a partial one too) and then its record; nothing there is a success. */
export async function deleteDirectorySnapshot(root: string, snapshotDir: string, options: DirectoryCopyOptions): Promise<void> {
  const dir = await snapshotsDirectory(root, false, options.commandTimeoutMs);
  if (dir === undefined) return;
  for (const path of [`${dir}/${snapshotDir}`, `${dir}/${snapshotDir}.partial`]) {
    const found = await entryType(path, options.commandTimeoutMs);
    if (found === 'directory') await removeTree(path, options.copyTimeoutMs);
    else if (found !== 'missing') await removeFile(path, options.commandTimeoutMs);
  }
  // The copy first, the record after: a delete cut short keeps the record for its retry.
  await removeFile(`${dir}/${snapshotDir}.json`, options.commandTimeoutMs);
}

/** Where a volume made from snapshot `snapshotDir` copies from: its parent and name, for `copyInto`. */
export function snapshotSource(root: string, snapshotDir: string): { parent: string; name: string } {
  return { parent: `${root}/${snapshotsDir}`, name: snapshotDir };
}

/**
 * Copies tree `name` of `parent` to `finalPath` through `<finalPath>.partial`-like staging: the
 * copy goes to `partialPath` (a stale one from a crash is removed first) and is renamed to
 * `finalPath` only when complete.
 */
export async function copyInto(parent: string, name: string, finalPath: string, options: DirectoryCopyOptions, partialPath = `${finalPath}.partial`): Promise<void> {
  const stale = await entryType(partialPath, options.commandTimeoutMs);
  if (stale === 'directory') await removeTree(partialPath, options.copyTimeoutMs);
  else if (stale !== 'missing') await removeFile(partialPath, options.commandTimeoutMs);
  await copyTree({ parent, name, destination: partialPath, workDir: options.workDir, commandTimeoutMs: options.commandTimeoutMs, copyTimeoutMs: options.copyTimeoutMs, logger: options.logger });
  await renameNoReplace(partialPath, finalPath, options.commandTimeoutMs);
}

/**
 * The snapshots' directory under the root, made when missing and `create` is set (else
 * undefined). Anything but a real directory is refused: a symlink there would send every copy
 * (and every removal) wherever it points.
 */
async function snapshotsDirectory(root: string, create: boolean, timeoutMs: number): Promise<string | undefined> {
  const dir = `${root}/${snapshotsDir}`;
  const found = await entryType(dir, timeoutMs);
  if (found === 'directory') return dir;
  if (found === 'missing') {
    if (!create) return undefined;
    try {
      await makeDirectory(dir, 0o700, timeoutMs);
    } catch (error) {
      if ((await entryType(dir, timeoutMs)) !== 'directory') throw error; // made meanwhile by another call: fine
    }
    return dir;
  }
  throw new SharemountError('FAILED_PRECONDITION', `${snapshotsDir} is ${found === 'symlink' ? 'a symlink' : 'not a directory'}; it is where snapshots are kept`);
}
