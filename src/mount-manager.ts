import { constants } from 'node:fs';
import { access, realpath, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SharemountError, fromFilesystemError, invalidArgument, isSharemountError } from './errors.js';
import { HungShares } from './hung-shares.js';
import { healShareLocked } from './heal.js';
import { KeyedLock } from './lock.js';
import { makeDirectories } from './make-directory.js';
import type { Logger } from './logger.js';
import { checkManagerOptions, checkReconcileOptions, checkUnpublishOptions, type MountManagerOptions, type Timeouts, type UnpublishOptions } from './manager-options.js';
import { remountReadOnly, unmount } from './mount-command.js';
import { localMountIdOf } from './mount-point.js';
import { readMountInfo, topMounts } from './mountinfo.js';
import { isForeignMountPoint, openShared, shareMountFlags, type CheckContext } from './publish-checks.js';
import { checkPublishRequest, checkShareRequest, type CheckedRequest, type PublishRequest, type Strategy } from './publish-request.js';
import { reconcileShares, type ReconcileReport } from './reconcile.js';
import { loadRootKey } from './root-key.js';
import { joinRoot, placeTag } from './root-world.js';
import { shareKeyOf, type ShareKey } from './share-key.js';
import { StateStore, type RefRecord } from './state.js';
import { strategies } from './strategies/index.js';
import { canonicalTarget, checkTargetPlace, checkTargetPlaceByTable, checkTargetShape, prepareTarget } from './target.js';
import { showsShareAt } from './strategies/bind.js';
import { placeOfPath } from './identity.js';
import { Deadline, withTimeout } from './timeout.js';
import type { AnyBackend, Source } from './backend.js';

/** One consumer's view of a share, as `publish` made it. */
export interface Publication {
  target: string;
  shareKey: ShareKey;
  /** The share's mount point. */
  sharePath: string;
  /** What the target shows: `sharePath/subPath`. */
  path: string;
  subPath: string;
  readOnly: boolean;
  strategy: Strategy;
  /** The label it was published with (PublishRequest.label), if any. */
  label?: string;
}

export interface UnpublishResult {
  /** False when nothing was published at the target (a repeat, or never published). */
  unpublished: boolean;
  /** True when this was the share's last publication and the share was unmounted. */
  shareUnmounted: boolean;
}

export interface ShareStatus {
  key: ShareKey;
  backend: string;
  source: Source | undefined;
  options: string[];
  hasSensitiveOptions: boolean;
  mountPoint: string;
  /** Whether the kernel shows the share mounted now. */
  mounted: boolean;
  /** Whether a call into the share timed out and it has not answered since (this process's view). */
  hung: boolean;
  publications: Publication[];
}

interface Context extends CheckContext {
  locks: KeyedLock;
  secretKey: Buffer;
}

/**
 * The core: refcounted shared mounts. Each distinct (source, option set) is mounted once under
 * the root; every `publish` adds one reference (a record on disk, written before the publication
 * is made) and one bind mount or symlink at its target; the last `unpublish` unmounts the share.
 * All operations are idempotent by target and serialised per share and per target across
 * processes; different shares proceed in parallel.
 */
export class MountManager {
  readonly timeouts: Timeouts;
  private readonly backends: ReadonlyMap<string, AnyBackend>;
  private readonly logger: Logger;
  private ready: Promise<Context> | undefined;
  private readonly hungShares = new HungShares();

  private readonly rootPath: string;

  constructor(options: MountManagerOptions) {
    const checked = checkManagerOptions(options);
    this.rootPath = checked.root;
    this.backends = checked.backends;
    this.logger = checked.logger;
    this.timeouts = checked.timeouts;
  }

  /** The backend registered under `name`. */
  backend(name: string): AnyBackend {
    const backend = this.backends.get(name);
    if (!backend) throw invalidArgument('backend', `unknown backend "${name}"`);
    return backend;
  }

  /** The real path of the state root (after `realpath`). */
  async root(): Promise<string> {
    return (await this.context()).root;
  }

  /**
   * The ShareKey a request would use, without touching anything. Takes a whole PublishRequest
   * as well as its share part: only `source`, `options` and `sensitiveOptions` are looked at.
   */
  async shareKeyOf(request: Pick<PublishRequest, 'source' | 'options' | 'sensitiveOptions'>): Promise<ShareKey> {
    const { secretKey } = await this.context();
    const { source, options, sensitiveOptions } = (request ?? {}) as Partial<PublishRequest>;
    const share = checkShareRequest({ source, options, sensitiveOptions }, this.backends);
    return shareKeyOf(share.backend, share.source, share.options, share.sensitiveOptions, secretKey);
  }

  /**
   * Refuses a path a publication would be made at (`field` names it) that is the state root, lies
   * inside it or above it, by what the kernel says the directories are, whatever the spelling:
   * for a shim that mounts at a path of its own (the CSI shim's NodePublishVolume target). A
   * path that is a mount point is judged from the mount table and never opened, so one that
   * shows a hung share costs nothing.
   */
  async checkTargetPlace(path: string, field = 'target'): Promise<void> {
    const context = await this.context();
    try {
      checkTargetPlaceByTable(path, context.rootPlace, field);
    } catch (error) {
      throw fromFilesystemError(error, [[path, field], [dirname(path), field]]);
    }
  }

  /** The ShareKey of the publication at `target`, if sharemount has one there (one readlink). */
  async shareKeyAt(target: string): Promise<ShareKey | undefined> {
    const context = await this.context();
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(target, context.root)), context.root);
    return context.state.readIndex(canonical);
  }

  /** The publication at `target`, if sharemount has one there (its index entry and reference). */
  async publicationAt(target: string): Promise<Publication | undefined> {
    const context = await this.context();
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(target, context.root)), context.root);
    const key = await context.state.readIndex(canonical);
    if (key === undefined) return undefined;
    const ref = await context.state.readRef(key, canonical);
    return ref && toPublication(ref, key, context.state.mountPoint(key));
  }

  /**
   * Runs `work` holding the lock publish and unpublish take for `target` (a canonical path), in
   * process and across processes: for a shim that mounts at a target of its own (CSI's bind of
   * a staged volume), so that its commands, run with `inheritLocks`, keep the target locked
   * until they end, even once this process is gone (docs/locking.md).
   */
  async withTargetLock<T>(target: string, work: () => Promise<T>): Promise<T> {
    return (await this.context()).locks.withLock(`target:${target}`, work);
  }

  /**
   * Publishes `source/subPath` at `target`, mounting the share first if this is its first
   * publication. Repeating a publication is a success; publishing something else at a used
   * target is ALREADY_EXISTS. On failure nothing is left behind (no reference, no mount).
   */
  async publish(request: PublishRequest): Promise<Publication> {
    const context = await this.context();
    const checked = checkPublishRequest(request, this.backends, context.root);
    const key = shareKeyOf(checked.backend, checked.source, checked.options, checked.sensitiveOptions, context.secretKey);
    const target = checkTargetShape(canonicalTarget(checked.target, { parentMustExist: true }), context.root);
    // A share known to hang fails at once, before anything looks at a target that may be its mount,
    // and without waiting in line for its lock (hung-shares.ts).
    this.hungShares.failIfHung(key, context.state.mountPoint(key));
    await checkTargetPlace(target, context.rootPlace, this.timeouts.fsMs).catch((error: unknown) => {
      throw fromFilesystemError(error, [[target, 'target'], [dirname(target), 'target']]); // a file on the way...
    });
    return context.locks.withLocks([`target:${target}`, `share:${key}`], () => this.publishHealing(context, { ...checked, target }, key)).catch((error: unknown) => {
      // A target that cannot be used (its parent a file, a symlink loop on the way...) fails in a syscall.
      throw fromFilesystemError(error, [[target, 'target'], [dirname(target), 'target']]);
    });
  }

  /**
   * Removes the publication at `target`; the share's last one unmounts the share and removes its
   * directory. A target with nothing published is a success (`unpublished: false`). Broken and
   * hung mounts are still removed (umount, then forced, then lazy).
   */
  async unpublish(target: string, options: UnpublishOptions = {}): Promise<UnpublishResult> {
    const { removeTarget } = checkUnpublishOptions(options);
    const context = await this.context();
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(target, context.root)), context.root);
    return context.locks.withLock(`target:${canonical}`, async () => {
      const key = await context.state.readIndex(canonical);
      if (key === undefined) return { unpublished: false, shareUnmounted: false };
      return context.locks.withLock(`share:${key}`, async () => {
        // A record that does not parse (its first write cut short by a crash) published nothing.
        const ref = await context.state.readRef(key, canonical);
        if (ref) {
          await strategies[ref.strategy].unpublish({
            target: canonical,
            sharePath: context.state.mountPoint(key),
            subPath: ref.subPath,
            removeTarget,
            timeoutMs: this.timeouts.commandMs,
            logger: this.logger,
          });
        }
        await context.state.removeRef(key, canonical);
        await context.state.removeIndex(canonical);
        const shareUnmounted = await this.releaseIfUnused(context, key);
        this.logger.info({ target: canonical, share: key, shareUnmounted }, 'unpublished');
        return { unpublished: ref !== undefined, shareUnmounted };
      });
    });
  }

  /** Every share under the root with its publications, and whether the kernel shows it mounted. */
  async list(): Promise<ShareStatus[]> {
    const { state } = await this.context();
    const mounts = topMounts(await readMountInfo());
    const keys = await state.listShareKeys();
    return Promise.all(
      keys.map(async (key) => {
        const record = await state.readShare(key).catch(() => undefined);
        const sharePath = state.mountPoint(key);
        const refs = await state.listRefs(key);
        return {
          key,
          backend: key.split('/')[0]!,
          source: record?.source as Source | undefined,
          options: record?.options ?? [],
          hasSensitiveOptions: record?.hasSensitiveOptions ?? false,
          mountPoint: sharePath,
          mounted: mounts.has(sharePath),
          hung: this.hungShares.has(key, sharePath, mounts.get(sharePath)?.id),
          publications: refs.flatMap(({ ref }) => (ref ? [toPublication(ref, key, sharePath)] : [])),
        };
      }),
    );
  }

  /**
   * Repairs what a crash can leave, against the kernel's mount table: drops references whose
   * publication is gone, adopts publications of a share that have no reference, unmounts shares
   * with no reference, remounts referenced shares that are not mounted. With `share`, only that
   * share (cheap: what a FlexVolume call does before touching it).
   */
  async reconcile(options: { share?: ShareKey } = {}): Promise<ReconcileReport> {
    const { share } = checkReconcileOptions(options);
    const context = await this.context();
    return reconcileShares({ ...context, backends: this.backends, hungShares: this.hungShares }, share);
  }

  /** A publish that finds its share broken heals it (heal.ts), then publishes. */
  private async publishHealing(context: Context, request: CheckedRequest, key: ShareKey): Promise<Publication> {
    try {
      return await this.publishLocked(context, request, key);
    } catch (error) {
      if (!isSharemountError(error, 'BROKEN_MOUNT')) throw error;
      const outcome = await healShareLocked({ ...context, backends: this.backends, hungShares: this.hungShares }, key, { sensitiveOptions: request.sensitiveOptions });
      if (outcome.status !== 'healed') throw outcome.status === 'failed' ? new SharemountError('BROKEN_MOUNT', `${error.message}; ${outcome.message}`, { cause: error }) : error;
      return this.publishLocked(context, request, key);
    }
  }

  private async publishLocked(context: Context, request: CheckedRequest, key: ShareKey): Promise<Publication> {
    const { state } = context;
    const { target } = request;
    const sharePath = state.mountPoint(key);
    const strategy = strategies[request.strategy];

    // A new target (the common case) is claimed in the index at once: one symlink() both finds
    // it free and records it. A target with an entry is looked at first.
    const claimed = await state.claimIndex(target, key);
    const indexed = claimed ? undefined : await state.readIndex(target);
    const existing = indexed === undefined ? undefined : await state.readRef(indexed, target);
    if (indexed !== undefined && existing) {
      // A reference without a label (made before labels were kept, or adopted by reconcile) is anyone's.
      const sameLabel = existing.label === undefined || existing.label === request.label;
      const same = indexed === key && existing.subPath === request.subPath && existing.readOnly === request.readOnly && existing.strategy === request.strategy && sameLabel;
      if (!same) {
        throw new SharemountError('ALREADY_EXISTS', `target: ${target} is already published with a different ${describeDifference(indexed, key, existing, request)}`, { field: 'target' });
      }
      if (await withTimeout(strategy.looksPublished({ target, sharePath, subPath: existing.subPath, directoryInode: existing.directoryInode }), this.timeouts.fsMs, 'checking the target')) {
        // A read-only publication left writable (a crash between util-linux's bind and its ro
        // step) is made read-only before it is handed out again.
        if (existing.strategy === 'bind' && existing.readOnly && (await withTimeout(isWritable(target), this.timeouts.fsMs, 'checking the target'))) {
          await remountReadOnly(target, this.timeouts.commandMs, await shareMountFlags(context, key));
        }
        return toPublication(existing, key, sharePath);
      }
      // A reference without its publication: a crash came between the two. Publish again,
      // unless something else is mounted there now (the foreign-mount check below).
    }

    // Two checks, made in libuv's threads and bounded by one deadline: the target must not be
    // someone else's mount point, and the share must be mounted (mounting it now if need be) and
    // answer, with the sub-path opened inside it. The target is prepared (made when missing)
    // only once it is known not to be a foreign mount (a hung one would block the synchronous
    // calls), and the sub-path is created in the share only after that, so that a request
    // refused for its target creates nothing there.
    const deadline = new Deadline(this.timeouts.fsMs);
    const foreign = request.strategy === 'bind' ? isForeignMountPoint(target, deadline) : Promise.resolve(false);
    const targetReady = foreign.then((isForeign) => {
      if (isForeign) throw new SharemountError('ALREADY_EXISTS', `target: ${target} is already a mount point that sharemount did not make`, { field: 'target' });
      return request.strategy === 'bind' ? prepareTarget(target) : { created: false };
    });
    targetReady.catch(() => {}); // awaited below
    const share = { mountAttempted: false };
    const opening = this.hungShares.guard(key, sharePath, this.timeouts.fsMs, () => openShared(context, request, key, share, deadline, async () => void (await targetReady)));
    opening.catch(() => {}); // awaited below
    void Promise.allSettled([targetReady, opening]).then(() => deadline.clear());

    const forget = async () => {
      await state.removeRef(key, target);
      await state.removeIndex(target);
    };
    const [opened, readied] = await Promise.allSettled([opening, targetReady]);
    if (opened.status === 'rejected' || readied.status === 'rejected') {
      if (opened.status === 'fulfilled') void opened.value.close();
      if (readied.status === 'fulfilled' && readied.value.created) await rmdir(target).catch(() => {});
      // A repeat whose publication is still mounted but was not recognised (its directory renamed
      // where no inode was recorded, a foreign mount stacked on it) keeps its reference: dropping
      // it would leave that mount counted by nobody and the share releasable under it.
      // Reconcile judges it against the mount table (read here, never the target: it may hang).
      if (!existing || !showsShareAt(target, sharePath)) await forget();
      // Mounted iff referenced, also when a crash had left the share mounted with no reference.
      // A share that did not answer is left to reconcile: unmounting it would wait for it too.
      const error: unknown = opened.status === 'rejected' ? opened.reason : (readied as PromiseRejectedResult).reason;
      if (share.mountAttempted || opened.status === 'fulfilled' || !isSharemountError(error, 'TIMEOUT')) await this.releaseIfUnused(context, key);
      throw error;
    }
    const directory = opened.value;
    const createdTarget = (existing?.createdTarget ?? false) || readied.value.created;
    try {
      let ref: RefRecord;
      try {
        // The reference before the publication: a crash after it leaves a reference that
        // reconcile checks against the mount table and drops; a crash after an unrecorded mount
        // would leave a pod that nobody counts (a share mounted just now, with no reference yet,
        // reconcile unmounts). It holds the opened directory's inode, by which the publication
        // is still told apart from any other mount of the share once its directory has been
        // renamed (by a consumer of an enclosing directory, when one volume lies inside another).
        const directoryInode = directory.identity().inode;
        ref = {
          version: 1,
          target,
          subPath: request.subPath,
          readOnly: request.readOnly,
          strategy: request.strategy,
          createdTarget,
          publishedAt: new Date().toISOString(),
          ...(request.label === undefined ? {} : { label: request.label }),
          ...(directoryInode === undefined ? {} : { directoryInode }),
          madeIn: placeTag(),
        };
        await (claimed ? state.createRef(key, ref) : state.writeRef(key, ref));
        if (!claimed) await state.writeIndex(target, key); // an entry without its reference: replaced
        const shareFlags = request.readOnly && request.strategy === 'bind' ? await shareMountFlags(context, key) : [];
        await strategy.publish({ directory, sharePath, target, readOnly: request.readOnly, shareFlags, timeoutMs: this.timeouts.commandMs });
      } catch (error) {
        await forget();
        if (readied.value.created) await rmdir(target).catch(() => {});
        await this.releaseIfUnused(context, key);
        throw error;
      }
      this.logger.info({ target, share: key, subPath: request.subPath, readOnly: request.readOnly, strategy: request.strategy }, 'published');
      return toPublication(ref, key, sharePath);
    } finally {
      void directory.close().catch(() => {}); // the publication no longer needs it; nothing to wait for
    }
  }

  /** Unmounts and removes the share when no reference is left; returns whether it did. */
  private async releaseIfUnused(context: Context, key: ShareKey): Promise<boolean> {
    if (await context.state.hasRefs(key)) return false;
    const outcome = await unmount(context.state.mountPoint(key), this.timeouts.commandMs, this.logger);
    await context.state.removeShare(key);
    if (outcome !== 'not-mounted') this.logger.info({ share: key, outcome }, 'share unmounted');
    return outcome !== 'not-mounted';
  }

  private context(): Promise<Context> {
    this.ready ??= this.initialise().catch((error: unknown) => {
      this.ready = undefined; // let a later call try again
      throw error;
    });
    return this.ready;
  }

  private async initialise(): Promise<Context> {
    await makeDirectories(this.rootPath, 0o700, 'root', `the state root ${this.rootPath}`);
    const root = await realpath(this.rootPath);
    const identity = await stat(root);
    // Before anything is written: a process of another namespace using the root refuses this one.
    await joinRoot(root, this.timeouts.commandMs);
    const secretKey = await loadRootKey(join(root, '_key'));
    return {
      root,
      state: new StateStore(root),
      // Keyed with the root's key (0600): nobody without it can take a lock's name in advance.
      locks: new KeyedLock(`${identity.dev}:${identity.ino}`, this.timeouts.lockMs, secretKey),
      secretKey,
      rootMountId: localMountIdOf(root),
      rootPlace: placeOfPath(root),
      admittedShares: new Map(),
      timeouts: this.timeouts,
      logger: this.logger,
    };
  }
}

/** Whether a mount accepts writes: access(2) answers EROFS for a read-only one, even to root. */
async function isWritable(path: string): Promise<boolean> {
  return access(path, constants.W_OK).then(
    () => true,
    () => false,
  );
}

export function toPublication(ref: RefRecord, key: ShareKey, sharePath: string): Publication {
  return {
    target: ref.target,
    shareKey: key,
    sharePath,
    path: ref.subPath === '' ? sharePath : `${sharePath}/${ref.subPath}`,
    subPath: ref.subPath,
    readOnly: ref.readOnly,
    strategy: ref.strategy,
    ...(ref.label === undefined ? {} : { label: ref.label }),
  };
}

function describeDifference(indexed: ShareKey, key: ShareKey, existing: RefRecord, request: CheckedRequest): string {
  if (indexed !== key) return 'source or options';
  if (existing.subPath !== request.subPath) return 'subPath';
  if (existing.readOnly !== request.readOnly) return 'readOnly';
  if (existing.strategy !== request.strategy) return 'strategy';
  return 'label';
}
