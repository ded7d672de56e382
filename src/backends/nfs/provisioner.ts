import { makeDirectories } from '../../make-directory.js';
import { randomUUID } from 'node:crypto';
import { SharemountError, invalidArgument } from '../../errors.js';
import { KeyedLock } from '../../lock.js';
import { silentLogger, type Logger } from '../../logger.js';
import { readMountInfo, topMounts, type MountInfoEntry } from '../../mountinfo.js';
import type { CreateVolumeRequest, ProvisionedVolume } from '../../backend.js';
import type { MountManager } from '../../mount-manager.js';
import type { NfsParameters, OnDeletePolicy } from './parameters.js';
import type { NfsSource } from './source.js';
import { renderSubDirName } from './subdir-name.js';
import { fittedLocation, formatVolumeId, parseVolumeId, type NfsVolumeLocation } from './volume-id.js';
import { archiveDirectory, changeOwner, entryType, makeDirectory, readSmallFile, refuseWhileMounted, removeEmptyDirectory, removeFile, removeTree, replaceSmallFile } from '../../directory-commands.js';
import { checkRecordedVolume, formatVolumeRecord, liveVolume, parseVolumeRecord, volumeRecordPath, volumeRecordsDir, type VolumeRecord } from '../../volume-records.js';
import { recordedSize } from '../../capacity-range.js';
import { copyInto, type DirectoryCopyOptions } from '../../snapshots/directory-snapshots.js';
import { contentSourcePath } from './snapshots.js';

/** How the NFS backend reaches exports to create and delete sub-directories (controller side). */
export interface NfsProvisionerOptions {
  /** Mounts exports for the provisioner: each operation publishes the export's root and unpublishes it after. */
  manager: Pick<MountManager, 'publish' | 'unpublish'>;
  /** Absolute directory for those short-lived publications (created when missing, mode 0700); outside the manager's root. */
  workDir: string;
  /** Bound on each file command on the export (stat, mkdir, chown, mv). Default 30 s. */
  commandTimeoutMs?: number;
  /** Bound on removing a volume's tree under the `delete` policy. Default 10 min. */
  deleteTimeoutMs?: number;
  /** Bound on copying a volume's tree for a snapshot or a clone. Default 1 hour. */
  copyTimeoutMs?: number;
  /**
   * The exports (`server:/export`) ListVolumes and ListSnapshots look in, reached with
   * `idOnlyDefaults.mountOptions`: a listing brings no parameters, so the controller knows no
   * export it is not told about. Default none (the listings hold no NFS volume).
   */
  listedExports?: readonly string[];
  logger?: Logger;
  /**
   * For the calls that bring only a volume id (CSI's DeleteVolume, and the lookups of
   * ValidateVolumeCapabilities): the delete policy (default `retain`: nothing is touched) and
   * the options the export is mounted with.
   */
  idOnlyDefaults?: { onDelete?: OnDeletePolicy; mountOptions?: readonly string[] };
  /**
   * Take over an existing directory that has no record (made by hand, or by another
   * provisioner being migrated from) when a volume's name renders to it. Default false: such a
   * directory is ALREADY_EXISTS, since a template like `${pvc.name}` would otherwise hand an
   * operator's `backup` to any claim named `backup`, and delete it with the volume.
   */
  adoptUnrecorded?: boolean;
}

export { archivePrefix } from '../../directory-commands.js';

/**
 * Provisioning of NFS volumes as direct sub-directories of an export, the job of
 * nfs-subdir-external-provisioner: create one per volume (named from the claim, with a mode and
 * an owner), and on delete retain it, archive it (rename to `archived-<name>`) or remove it.
 * The export is reached through a MountManager publication of its root, so a controller running
 * next to node plugins shares their mount, and nothing is touched through a path that is not
 * that publication.
 */
export class NfsProvisioner {
  /** @internal */
  readonly commandTimeoutMs: number;
  private readonly deleteTimeoutMs: number;
  /** @internal */
  readonly logger: Logger;
  /** @internal For the snapshot operations (nfs/snapshots.ts): one create or delete of a directory at a time. */
  readonly directoryLock: KeyedLock;
  /** @internal How copies are made (snapshots.md). */
  readonly copies: DirectoryCopyOptions;

  constructor(readonly options: NfsProvisionerOptions) {
    if (typeof options.workDir !== 'string' || !options.workDir.startsWith('/')) throw invalidArgument('workDir', 'must be an absolute path');
    this.commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.deleteTimeoutMs = options.deleteTimeoutMs ?? 600_000;
    this.logger = options.logger ?? silentLogger;
    // Across processes too (the lock's sockets), for provisioners sharing this work directory.
    this.copies = { workDir: `${options.workDir}/copies`, commandTimeoutMs: this.commandTimeoutMs, copyTimeoutMs: options.copyTimeoutMs ?? 3_600_000, logger: this.logger };
    this.directoryLock = new KeyedLock(`nfs-provisioner:${options.workDir}`, this.deleteTimeoutMs + this.commandTimeoutMs);
  }

  /**
   * Creates the volume's sub-directory, idempotent by name. A directory is only ever taken for a
   * volume when this provisioner's record says it may be: its own volume of that name, or one it
   * retained on delete. A directory without a record (an operator's `backup`, which a template
   * such as `${pvc.name}` could render) is refused unless `adoptUnrecorded` is set.
   */
  async createVolume(request: CreateVolumeRequest<NfsParameters>): Promise<ProvisionedVolume> {
    const { parameters } = request;
    if (typeof request.name !== 'string' || request.name === '') throw invalidArgument('name', 'is required');
    const rendered = renderSubDirName(
      parameters.subDirTemplate,
      { pvName: parameters.pvName ?? request.name, pvcName: parameters.pvcName, pvcNamespace: parameters.pvcNamespace },
      'parameters.subDirTemplate',
    );
    // A name too long for the volume id (CSI's 128 bytes) gets a shorter directory, with a hash.
    const location: NfsVolumeLocation = fittedLocation(parameters.server, parameters.export, rendered);
    const { name } = location;
    const volumeId = formatVolumeId(location);
    let capacityBytes = recordedSize(request);
    // One directory, one create or delete at a time: two claims whose template renders the same
    // name must not both find it free and both adopt it.
    await this.directoryLock.withLock(volumeId, () => this.withExportRoot(location, parameters.mountOptions, async (root) => {
      const found = await entryType(`${root}/${name}`, this.commandTimeoutMs);
      if (found !== 'missing' && found !== 'directory') throw new SharemountError('ALREADY_EXISTS', `${name} exists on the export and is not a directory`, { field: 'name' });
      const record = { name: request.name, capacityBytes, ...(request.contentSource ? { contentSource: request.contentSource } : {}) };
      if (found === 'missing') {
        // The record first, the directory after: a crash between the two leaves a record whose
        // directory is missing, which is stale (as is one whose directory was removed by hand,
        // whatever it holds): it is not even read. A volume made from a source is a complete
        // copy renamed into place (snapshots.md), so its retry copies again.
        const copyFrom = request.contentSource && contentSourcePath(root, location, request.contentSource);
        await this.writeRecord(root, name, record);
        if (copyFrom) await copyInto(copyFrom.parent, copyFrom.name, `${root}/${name}`, this.copies, `${root}/${volumeRecordsDir}/${name}.partial`);
        else await this.makeVolumeDirectory(root, name, parameters);
        this.logger.info({ volumeId, from: request.contentSource }, 'created NFS sub-directory');
        return;
      }
      if (request.contentSource !== undefined && liveVolume(await this.readRecord(root, name)) === undefined) {
        throw new SharemountError('ALREADY_EXISTS', `${name} exists on the export, kept from an earlier volume; a volume made from a source needs a fresh directory`, { field: 'name' });
      }
      const recorded = await this.readRecord(root, name);
      const live = liveVolume(recorded);
      if (live !== undefined) {
        checkRecordedVolume(live, request.name, request, name);
        capacityBytes = live.capacityBytes; // a retry of a create that succeeded, or of one since grown
      } else if (recorded !== undefined || this.options.adoptUnrecorded) {
        await this.writeRecord(root, name, record);
        this.logger.info({ volumeId, retained: recorded !== undefined }, 'adopted an existing NFS sub-directory, data and all');
      } else {
        throw new SharemountError('ALREADY_EXISTS', `${name} exists on the export but this provisioner did not make it (no record in ${volumeRecordsDir}); it is never taken over: remove or rename it, or change subDirTemplate`, { field: 'name' });
      }
    }));
    const context: Record<string, string> = { server: parameters.server, share: parameters.export, subPath: name };
    if (parameters.mountOptions.length > 0) context.mountOptions = parameters.mountOptions.join(',');
    return { volumeId, ...(capacityBytes === 0 ? {} : { capacityBytes }), context };
  }

  /**
   * The volume, looked up on the export: its directory with a record of a live volume. Undefined
   * when there is none (a directory this provisioner did not make, or retained on delete, is no
   * volume) or the id does not parse.
   */
  async describeVolume(volumeId: string): Promise<{ capacityBytes?: number; context: Record<string, string> } | undefined> {
    let location: NfsVolumeLocation;
    try {
      location = parseVolumeId(volumeId);
    } catch {
      return undefined;
    }
    const mountOptions = this.options.idOnlyDefaults?.mountOptions ?? [];
    const found = await this.withExportRoot(location, mountOptions, async (root) => {
      if ((await entryType(`${root}/${location.name}`, this.commandTimeoutMs)) !== 'directory') return undefined;
      // A record that cannot be read (a symlink, garbage) is reported as a volume of unknown
      // size: DeleteVolume must reach it, and refuses it with the reason.
      const record = await this.readRecord(root, location.name).then(
        (read) => {
          const live = liveVolume(read);
          return live && { capacityBytes: live.capacityBytes };
        },
        (error: unknown) => {
          this.logger.warn({ volumeId, error: String(error) }, 'the volume record could not be read; its size is unknown');
          return {};
        },
      );
      return record;
    });
    if (found === undefined) return undefined;
    const context: Record<string, string> = { server: location.server, share: location.export, subPath: location.name };
    if (mountOptions.length > 0) context.mountOptions = mountOptions.join(',');
    return { ...found, context };
  }

  /**
   * Records a larger size for a live volume: a sub-directory has no quota to grow, so, as
   * csi-driver-nfs does, the size is what the record says. Never shrinks; NOT_FOUND for an id of
   * no live volume.
   */
  async expandVolume(volumeId: string, capacityBytes: number): Promise<{ capacityBytes: number }> {
    const notFound = () => new SharemountError('NOT_FOUND', `no NFS volume ${volumeId}`, { field: 'volumeId' });
    let location: NfsVolumeLocation;
    try {
      location = parseVolumeId(volumeId);
    } catch {
      throw notFound();
    }
    const mountOptions = this.options.idOnlyDefaults?.mountOptions ?? [];
    return this.directoryLock.withLock(volumeId, () => this.withExportRoot(location, mountOptions, async (root) => {
      if ((await entryType(`${root}/${location.name}`, this.commandTimeoutMs)) !== 'directory') throw notFound();
      const live = liveVolume(await this.readRecord(root, location.name));
      if (live === undefined) throw notFound();
      if (capacityBytes <= live.capacityBytes) return { capacityBytes: live.capacityBytes };
      await this.writeRecord(root, location.name, { ...live, capacityBytes });
      this.logger.info({ volumeId, capacityBytes }, 'recorded the NFS volume\'s new size');
      return { capacityBytes };
    }));
  }

  /**
   * Applies the `onDelete` policy to a live volume of this provisioner's: `retain` leaves the
   * directory as it is and marks its record retained, `archive` renames it to `archived-<name>`
   * (with a timestamp when that is taken), `delete` removes its tree; the record goes with
   * `archive` and `delete`. A directory without a live record (never made here, or retained
   * already) is left alone, and a missing one is success (a retry). Every policy is refused while
   * anything on this node mounts the directory or a path under it, and when the name is a
   * symlink or not a directory.
   */
  async deleteVolume(volumeId: string, parameters?: NfsParameters): Promise<void> {
    const location = parseVolumeId(volumeId);
    if (parameters !== undefined && (location.server !== parameters.server || location.export !== parameters.export)) {
      throw invalidArgument('volumeId', 'names a different server or export than the parameters');
    }
    const onDelete = parameters?.onDelete ?? this.options.idOnlyDefaults?.onDelete ?? 'retain';
    const mountOptions = parameters?.mountOptions ?? this.options.idOnlyDefaults?.mountOptions ?? [];
    await this.directoryLock.withLock(formatVolumeId(location), () => this.withExportRoot(location, mountOptions, async (root, rootMount) => {
      const path = `${root}/${location.name}`;
      const read = await this.readRecord(root, location.name);
      const recorded = liveVolume(read);
      const found = await entryType(path, this.commandTimeoutMs);
      if (found === 'missing') {
        if (read !== undefined) await this.removeRecord(root, location.name); // a retry, or a record left stale
        return;
      }
      if (recorded === undefined) {
        this.logger.info({ volumeId }, 'not a volume of this provisioner (no live record): left alone');
        return;
      }
      if (found !== 'directory') {
        throw new SharemountError('FAILED_PRECONDITION', `${location.name} on the export is ${found === 'symlink' ? 'a symlink' : 'not a directory'}; refusing to ${onDelete} it`);
      }
      // Under every policy, `retain` too: a volume a pod still uses is not deleted from under it.
      const volumeRoot = rootMount.root === '/' ? `/${location.name}` : `${rootMount.root}/${location.name}`;
      refuseWhileMounted(await readMountInfo(), rootMount.device, volumeRoot, location.name);
      if (onDelete === 'retain') {
        await this.writeRecord(root, location.name, { ...recorded, retained: true });
        this.logger.info({ volumeId }, 'retained NFS sub-directory (onDelete: retain)');
        return;
      }
      if (onDelete === 'archive') {
        await archiveDirectory(root, location.name, this.commandTimeoutMs);
        this.logger.info({ volumeId }, 'archived NFS sub-directory');
      } else {
        await removeTree(path, this.deleteTimeoutMs);
        this.logger.info({ volumeId }, 'deleted NFS sub-directory');
      }
      // The data first, the record after: a delete that fails on the data keeps the record for its retry.
      await this.removeRecord(root, location.name);
    }));
  }

  /**
   * The directory with its mode and owner, or nothing: a chown refused (a root-squashed export)
   * removes the directory just made again, so that a retry does not take a half-made directory
   * (and its record) for a volume made.
   */
  private async makeVolumeDirectory(root: string, name: string, parameters: NfsParameters): Promise<void> {
    const path = `${root}/${name}`;
    await makeDirectory(path, parameters.directoryMode, this.commandTimeoutMs);
    if (parameters.directoryUid === undefined && parameters.directoryGid === undefined) return;
    try {
      await changeOwner(path, { uid: parameters.directoryUid, gid: parameters.directoryGid }, this.commandTimeoutMs);
    } catch (error) {
      await removeEmptyDirectory(path, this.commandTimeoutMs).catch(() => undefined); // empty: made just now
      throw error;
    }
  }

  private async removeRecord(root: string, name: string): Promise<void> {
    if ((await this.recordsDirectory(root, false)) !== undefined) await removeFile(`${root}/${volumeRecordPath(name)}`, this.commandTimeoutMs);
  }

  /** @internal */
  async readRecord(root: string, name: string): Promise<VolumeRecord | undefined> {
    if ((await this.recordsDirectory(root, false)) === undefined) return undefined;
    const text = await readSmallFile(`${root}/${volumeRecordPath(name)}`, this.commandTimeoutMs);
    return text === undefined ? undefined : parseVolumeRecord(text, name);
  }

  private async writeRecord(root: string, name: string, record: VolumeRecord): Promise<void> {
    await this.recordsDirectory(root, true);
    await replaceSmallFile(`${root}/${volumeRecordPath(name)}`, formatVolumeRecord(record), this.commandTimeoutMs);
  }

  /**
   * The records' directory on the export, made when missing and `create` is set (else undefined).
   * Anything but a real directory is refused: a path through a symlink there would be resolved
   * by the NFS client, on the controller's own disk.
   */
  private async recordsDirectory(root: string, create: boolean): Promise<string | undefined> {
    const dir = `${root}/${volumeRecordsDir}`;
    const found = await entryType(dir, this.commandTimeoutMs);
    if (found === 'directory') return dir;
    if (found === 'missing') {
      if (!create) return undefined;
      try {
        await makeDirectory(dir, 0o700, this.commandTimeoutMs);
      } catch (error) {
        // Another volume's create made it meanwhile: fine, if it is a directory now.
        if ((await entryType(dir, this.commandTimeoutMs)) !== 'directory') throw error;
      }
      return dir;
    }
    throw new SharemountError('FAILED_PRECONDITION', `${volumeRecordsDir} on the export is ${found === 'symlink' ? 'a symlink' : 'not a directory'}; it is where the provisioner keeps its records`);
  }

  /** Publishes the export's root at a fresh target, runs `work` on it, and always unpublishes. */
  /** @internal For the snapshot operations (nfs/snapshots.ts). */
  async withExportRoot<T>(location: NfsVolumeLocation, mountOptions: readonly string[], work: (root: string, rootMount: MountInfoEntry) => Promise<T>): Promise<T> {
    await makeDirectories(this.options.workDir, 0o700, 'provisioner.workDir');
    const source: NfsSource = { backend: 'nfs', server: location.server, export: location.export };
    const publication = await this.options.manager.publish({
      source,
      options: mountOptions,
      target: `${this.options.workDir}/${randomUUID()}`,
      strategy: 'bind',
    });
    try {
      // Act only through the publication, and only when the kernel shows it as a mount point:
      // a plain directory here would mean writing to (or deleting from) the controller's disk.
      const rootMount = topMounts(await readMountInfo()).get(publication.target);
      if (rootMount === undefined) throw new SharemountError('INTERNAL', `the export's publication at ${publication.target} is not a mount point`);
      return await work(publication.target, rootMount);
    } finally {
      await this.options.manager.unpublish(publication.target).catch((error: unknown) => {
        this.logger.error({ target: publication.target, error: String(error) }, 'could not unpublish the export after provisioning');
      });
    }
  }
}
