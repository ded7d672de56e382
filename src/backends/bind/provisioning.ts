import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { SharemountError, invalidArgument } from '../../errors.js';
import { archiveDirectory, archivePrefix, entryType, makeDirectory, refuseWhileMounted, removeTree } from '../../directory-commands.js';
import { readMountInfo } from '../../mountinfo.js';
import { readRecord, removeRecord, writeRecord } from '../../record-file.js';
import { isWithin } from '../../target.js';
import { volumeStats } from '../../volume-stats.js';
import type { CreateVolumeRequest, ProvisionedVolume } from '../../backend.js';
import { checkRecordedVolume, formatVolumeRecord, liveVolume, parseVolumeRecord, volumeRecordPath, volumeRecordsDir, type VolumeRecord } from '../../volume-records.js';
import { recordedSize } from '../../capacity-range.js';
import { readSmallFiles } from '../../directory-commands.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { ContentSource, CreateSnapshotRequest, ListedVolume, ProvisionedSnapshot } from '../../backend.js';
import { copyInto, deleteDirectorySnapshot, findDirectorySnapshot, listDirectorySnapshots, snapshotDirectory, snapshotSource, type DirectoryCopyOptions } from '../../snapshots/directory-snapshots.js';
import type { SnapshotRecord } from '../../snapshots/snapshot-records.js';

/** Where and how the bind backend provisions volumes: sub-directories of one host directory. */
export interface BindProvisioningOptions {
  /** Absolute directory of this node that holds the volumes, one sub-directory each (made when missing). */
  root: string;
  /** What deleteVolume does with a volume's data: `retain` (default) touches nothing, `archive` renames it `archived-<name>`, `delete` removes it. */
  onDelete?: 'retain' | 'archive' | 'delete';
  /** Mode of a volume's directory. Default 0777, as for NFS sub-directories: pods run as any user. */
  directoryMode?: number;
  /** Bound on each file command (mkdir, mv, stat). Default 30 s. */
  commandTimeoutMs?: number;
  /** Bound on removing a volume's tree under `delete`. Default 10 min. */
  deleteTimeoutMs?: number;
  /** Bound on copying a volume's tree for a snapshot or a clone. Default 1 hour. */
  copyTimeoutMs?: number;
  /** This process's directory for the short-lived read-only views copies read through (copy-tree.ts). Default `/run/sharemount/copies`. */
  copyWorkDir?: string;
  /**
   * Take a directory of the root that has no record (one this provisioner did not make) as the
   * volume of the same name, data and all: for migrating volumes made before records were kept.
   * Off by default, since it hands an operator's directory to whichever claim's name matches it.
   */
  adoptUnrecorded?: boolean;
}

// The bind backend's parameters that only a publication uses, and where each belongs instead.
const nodeSideParameters = ['mountOptions', 'readOnly', 'createIfNecessary', 'createMode'] as const;
const nodeSideReasons: Record<(typeof nodeSideParameters)[number], string> = {
  mountOptions: "a class's mount options are its mountOptions field (CSI mount flags)",
  readOnly: 'ask for a read-only access mode, or set readOnly where the volume is used',
  createIfNecessary: 'a volume is a directory this provisioner makes',
  createMode: 'the directory is made with the provisioner\'s directoryMode',
};

// A name used as it is: the characters of a DNS label and a few more, no leading dot or dash.
const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const directoryName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,112}$/;

/**
 * The directory a volume name gets: the name itself when it is plain, else its plain characters
 * and a hash of the whole (so `pvc-<uuid>` stays readable and any other name is still safe and
 * short: a volume id is at most 128 bytes, and CSI names may be 128 characters of anything).
 */
export function directoryOf(name: string): string {
  if (plainName.test(name) && !name.startsWith(archivePrefix)) return name;
  const readable = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 64);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 16);
  // Never `archived-...`: that prefix is the archive policy's.
  const base = readable === '' || readable.startsWith(archivePrefix) ? `volume-${readable}`.slice(0, 64) : readable;
  return `${base}-${hash}`;
}

/**
 * Provisioning of host-directory volumes: CreateVolume makes a sub-directory of the root named
 * from the volume's name (idempotent by name; a size is recorded, not enforced, so that a repeat
 * asking another size is ALREADY_EXISTS as CSI requires), DeleteVolume applies the policy and
 * refuses while anything on this node mounts the volume. The volumes are node-local.
 */
export class BindProvisioner {
  readonly root: string;
  private readonly onDelete: 'retain' | 'archive' | 'delete';
  private readonly directoryMode: number;
  private readonly commandTimeoutMs: number;
  private readonly deleteTimeoutMs: number;
  private readonly adoptUnrecorded: boolean;
  private readonly copies: DirectoryCopyOptions;

  constructor(options: BindProvisioningOptions, logger: Logger = silentLogger) {
    if (typeof options.root !== 'string' || !options.root.startsWith('/')) throw invalidArgument('provisioning.root', 'must be an absolute path');
    this.root = options.root;
    this.onDelete = options.onDelete ?? 'retain';
    this.directoryMode = options.directoryMode ?? 0o777;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.deleteTimeoutMs = options.deleteTimeoutMs ?? 600_000;
    this.adoptUnrecorded = options.adoptUnrecorded ?? false;
    const copyWorkDir = options.copyWorkDir ?? '/run/sharemount/copies';
    if (!copyWorkDir.startsWith('/')) throw invalidArgument('provisioning.copyWorkDir', 'must be an absolute path');
    this.copies = { workDir: copyWorkDir, commandTimeoutMs: this.commandTimeoutMs, copyTimeoutMs: options.copyTimeoutMs ?? 3_600_000, logger };
  }

  async createVolume(request: CreateVolumeRequest<{ path: string; subPath?: string } & Partial<Record<(typeof nodeSideParameters)[number], unknown>>>): Promise<ProvisionedVolume> {
    const { name, parameters } = request;
    if (typeof name !== 'string' || name === '') throw invalidArgument('name', 'is required');
    // The root is the driver's to choose, never a StorageClass's: naming it is only a check.
    if (parameters.path !== this.root) throw invalidArgument('parameters.path', `must be ${this.root}, where this driver makes its volumes`);
    if (parameters.subPath !== undefined) throw invalidArgument('parameters.subPath', 'is not for creating volumes: each volume is its own sub-directory of path');
    // Accepted and then dropped, a class's readOnly would make writable volumes: refused instead.
    for (const key of nodeSideParameters) {
      if (parameters[key] !== undefined) throw invalidArgument(`parameters.${key}`, `is not for creating volumes: ${nodeSideReasons[key]}`);
    }
    const dir = directoryOf(name);
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const read = this.readRecord(dir);
    // A live record is this volume's (or another claim's: ALREADY_EXISTS); a retained one marks
    // a directory of ours that the next volume of that name takes, data and all, as NFS does.
    const recorded = liveVolume(read);
    if (recorded !== undefined) checkRecordedVolume(recorded, name, request, dir);
    const capacityBytes = recorded?.capacityBytes ?? recordedSize(request);
    const found = await entryType(`${this.root}/${dir}`, this.commandTimeoutMs);
    if (found !== 'missing' && found !== 'directory') throw new SharemountError('ALREADY_EXISTS', `${dir} exists in ${this.root} and is not a directory`, { field: 'name' });
    // Only a directory this provisioner recorded is a volume: another one of the same name (an
    // operator's) is never handed to a claim, nor removed or archived with it.
    if (found === 'directory' && read === undefined && !this.adoptUnrecorded) {
      throw new SharemountError('ALREADY_EXISTS', `${dir} exists in ${this.root} but this provisioner did not make it (no record in ${volumeRecordsDir}); it is never taken over: remove or rename it`, { field: 'name' });
    }
    // A volume with content is a fresh copy: a directory kept from an earlier volume is not it.
    if (request.contentSource !== undefined && found === 'directory' && recorded === undefined) {
      throw new SharemountError('ALREADY_EXISTS', `${dir} exists in ${this.root}, kept from an earlier volume; a volume made from a source needs a fresh directory`, { field: 'name' });
    }
    // The source is checked before anything is written: an unknown one is NOT_FOUND and leaves nothing.
    const copyFrom = request.contentSource === undefined || found === 'directory' ? undefined : await this.contentSourcePath(request.contentSource);
    // The record first, the directory after: a crash between the two leaves a record whose
    // directory the retry makes, never a directory that looks like somebody else's.
    if (recorded === undefined) {
      this.makeRecordsDirectory();
      writeRecord(this.recordFile(dir), formatVolumeRecord({ name, capacityBytes, ...(request.contentSource ? { contentSource: request.contentSource } : {}) }));
    }
    if (copyFrom !== undefined) await copyInto(copyFrom.parent, copyFrom.name, `${this.root}/${dir}`, this.copies, `${this.root}/${volumeRecordsDir}/${dir}.partial`);
    else if (found === 'missing') await makeDirectory(`${this.root}/${dir}`, this.directoryMode, this.commandTimeoutMs);
    return { volumeId: dir, capacityBytes, context: { path: this.root, subPath: dir } };
  }

  /** Where a volume's content comes from: a complete snapshot, or a live volume; NOT_FOUND otherwise. */
  private async contentSourcePath(source: ContentSource): Promise<{ parent: string; name: string }> {
    if ('snapshotId' in source) {
      const snapshot = directoryName.test(source.snapshotId) ? await findDirectorySnapshot(this.root, source.snapshotId, this.commandTimeoutMs) : undefined;
      if (snapshot === undefined || !snapshot.readyToUse) throw new SharemountError('NOT_FOUND', `no snapshot ${source.snapshotId} in ${this.root}`, { field: 'volume_content_source' });
      return snapshotSource(this.root, source.snapshotId);
    }
    if (this.liveRecord(source.volumeId) === undefined) throw new SharemountError('NOT_FOUND', `no volume ${source.volumeId} in ${this.root}`, { field: 'volume_content_source' });
    return { parent: this.root, name: source.volumeId };
  }

  /** A copy of the volume's tree (copy-tree.ts), idempotent by name; the snapshot's size is the volume's recorded size. */
  async createSnapshot(request: CreateSnapshotRequest): Promise<ProvisionedSnapshot> {
    const recorded = this.liveRecord(request.sourceVolumeId);
    if (recorded === undefined) throw new SharemountError('NOT_FOUND', `no volume ${request.sourceVolumeId} in ${this.root}`, { field: 'source_volume_id' });
    const snapshotDir = directoryOf(request.name);
    const record = await snapshotDirectory(this.root, { name: request.name, snapshotDir, volumeDir: request.sourceVolumeId, sourceVolumeId: request.sourceVolumeId, sizeBytes: recorded.capacityBytes }, this.copies);
    return asSnapshot(snapshotDir, record);
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    if (directoryName.test(snapshotId)) await deleteDirectorySnapshot(this.root, snapshotId, this.copies);
  }

  async listSnapshots(filter: { snapshotId?: string; sourceVolumeId?: string }): Promise<ProvisionedSnapshot[]> {
    let found: Array<[string, SnapshotRecord]>;
    if (filter.snapshotId !== undefined) {
      const one = directoryName.test(filter.snapshotId) ? await findDirectorySnapshot(this.root, filter.snapshotId, this.commandTimeoutMs) : undefined;
      found = one === undefined ? [] : [[filter.snapshotId, one]];
    } else {
      found = [...(await listDirectorySnapshots(this.root, this.commandTimeoutMs, this.copies.logger))];
    }
    return found.filter(([, record]) => filter.sourceVolumeId === undefined || record.sourceVolumeId === filter.sourceVolumeId).map(([dir, record]) => asSnapshot(dir, record));
  }

  /** The live volumes recorded under the root (one `find` for all the records). */
  async listVolumes(): Promise<ListedVolume[]> {
    this.checkRecordsDirectory();
    const files = await readSmallFiles(`${this.root}/${volumeRecordsDir}`, '.json', this.commandTimeoutMs);
    const volumes: ListedVolume[] = [];
    for (const [file, text] of files) {
      const dir = file.slice(0, -'.json'.length);
      if (!directoryName.test(dir)) continue;
      const record = liveVolume(parseVolumeRecord(text, dir));
      if (record === undefined) continue;
      volumes.push({ volumeId: dir, capacityBytes: record.capacityBytes, context: { path: this.root, subPath: dir }, ...(record.contentSource ? { contentSource: record.contentSource } : {}) });
    }
    return volumes;
  }

  async describeVolume(volumeId: string): Promise<{ capacityBytes: number; context: Record<string, string> } | undefined> {
    const recorded = this.liveRecord(volumeId);
    return recorded && { capacityBytes: recorded.capacityBytes, context: { path: this.root, subPath: volumeId } };
  }

  /**
   * Applies the policy to a volume of this provisioner's (a live record): `retain` keeps the
   * directory and marks its record retained, `archive` renames it `archived-<name>`, `delete`
   * removes it. An id of no live volume (never made here, retained already, or gone) is a
   * success and touches nothing. A volume still mounted on this node is FAILED_PRECONDITION under
   * every policy, `retain` too: a new volume of the same name would take it over from its pod.
   */
  async deleteVolume(volumeId: string): Promise<void> {
    if (volumeId.startsWith(archivePrefix)) return;
    const recorded = this.liveRecord(volumeId);
    if (recorded === undefined) return;
    const path = `${this.root}/${volumeId}`;
    const found = await entryType(path, this.commandTimeoutMs);
    if (found === 'missing') return removeRecord(this.recordFile(volumeId)); // a retry, or removed by hand
    const retain = () => writeRecord(this.recordFile(volumeId), formatVolumeRecord({ ...recorded, retained: true }));
    if (found !== 'directory') {
      if (this.onDelete === 'retain') return retain(); // touches nothing, whatever is there
      throw new SharemountError('FAILED_PRECONDITION', `${path} is not a directory; refusing to ${this.onDelete} it`);
    }
    await refuseIfMounted(path, volumeId);
    if (this.onDelete === 'retain') return retain();
    if (this.onDelete === 'archive') await archiveDirectory(this.root, volumeId, this.commandTimeoutMs);
    else await removeTree(path, this.deleteTimeoutMs);
    // The data first, the record after: a delete that fails on the data keeps the record for its retry.
    removeRecord(this.recordFile(volumeId));
  }

  /** Records a larger size (sizes are not enforced, so there is nothing else to grow); never shrinks. */
  async expandVolume(volumeId: string, capacityBytes: number): Promise<{ capacityBytes: number }> {
    const recorded = this.liveRecord(volumeId);
    if (recorded === undefined) throw new SharemountError('NOT_FOUND', `no volume ${volumeId} in ${this.root}`, { field: 'volumeId' });
    if (capacityBytes <= recorded.capacityBytes) return { capacityBytes: recorded.capacityBytes };
    writeRecord(this.recordFile(volumeId), formatVolumeRecord({ name: recorded.name, capacityBytes }));
    return { capacityBytes };
  }

  async availableBytes(fsMs: number): Promise<number> {
    return (await volumeStats(this.root, fsMs)).availableBytes;
  }

  private recordFile(dir: string): string {
    this.checkRecordsDirectory();
    return `${this.root}/${volumeRecordPath(dir)}`;
  }

  private readRecord(dir: string): VolumeRecord | undefined {
    const text = readRecord(this.recordFile(dir));
    return text === undefined ? undefined : parseVolumeRecord(text, dir);
  }

  /** The record of a live volume of this provisioner's, or undefined (an id of no volume, or one retained on delete). */
  private liveRecord(volumeId: string): VolumeRecord | undefined {
    if (!directoryName.test(volumeId)) return undefined;
    return liveVolume(this.readRecord(volumeId));
  }

  private makeRecordsDirectory(): void {
    this.checkRecordsDirectory();
    mkdirSync(`${this.root}/${volumeRecordsDir}`, { recursive: true, mode: 0o700 });
  }

  /**
   * The records directory is inside the root, where a consumer of a volume published from the
   * root could reach it: a symlink in its place would send the records, and a root-owned file
   * written for each, wherever it points. Refused, as the NFS provisioner refuses one.
   */
  private checkRecordsDirectory(): void {
    const stats = lstatSync(`${this.root}/${volumeRecordsDir}`, { throwIfNoEntry: false });
    if (stats !== undefined && !stats.isDirectory()) {
      throw new SharemountError('FAILED_PRECONDITION', `${this.root}/${volumeRecordsDir} is ${stats.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refusing to read or write volume records through it`);
    }
  }
}

/**
 * Refuses while any mount of this node shows the volume's directory or a path under it: a mount
 * of the same filesystem whose root (inside that filesystem) is at or below the directory's.
 */
async function refuseIfMounted(path: string, name: string): Promise<void> {
  const real = realpathSync.native(path);
  const mounts = await readMountInfo();
  // The mount the directory is reached through: the one whose mount point is its longest prefix.
  const holder = mounts.filter((m) => isWithin(real, m.mountPoint)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  if (holder === undefined) return;
  const inside = real.slice(holder.mountPoint === '/' ? 0 : holder.mountPoint.length);
  const volumeRoot = holder.root === '/' ? inside : `${holder.root}${inside}`;
  refuseWhileMounted(mounts, holder.device, volumeRoot, name);
}

function asSnapshot(snapshotId: string, record: SnapshotRecord): ProvisionedSnapshot {
  return { snapshotId, sourceVolumeId: record.sourceVolumeId, sizeBytes: record.sizeBytes, creationTime: record.creationTime, readyToUse: record.readyToUse };
}
