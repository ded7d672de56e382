import { mkdir, realpath, rmdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { SharemountError, invalidArgument, isSharemountError } from './errors.js';
import { HungShares } from './hung-shares.js';
import { KeyedLock } from './lock.js';
import { silentLogger, type Logger } from './logger.js';
import { unmount } from './mount-command.js';
import { isMountPoint } from './mount-point.js';
import { readMountInfo, topMounts } from './mountinfo.js';
import { checkPublishRequest, checkShareRequest, type CheckedRequest, type PublishRequest, type Strategy } from './publish-request.js';
import { reconcileShares, type ReconcileReport } from './reconcile.js';
import { loadRootKey } from './root-key.js';
import { shareKeyOf, type ShareKey } from './share-key.js';
import { StateStore, type RefRecord } from './state.js';
import { strategies } from './strategies/index.js';
import { openInsideShare } from './subpath.js';
import { canonicalTarget, checkTargetShape, prepareTarget } from './target.js';
import { withTimeout } from './timeout.js';
import type { AnyBackend, Source } from './backend.js';

export interface Timeouts {
  /** Bound on every external command (mount, umount, mkfs...). Default 30 s. */
  commandMs: number;
  /** Longest wait for another operation on the same share or target. Default 60 s. */
  lockMs: number;
  /** Bound on in-process filesystem calls into a share (hung-mount detection). Default 10 s. */
  fsMs: number;
}

export const defaultTimeouts: Timeouts = { commandMs: 30_000, lockMs: 60_000, fsMs: 10_000 };

export interface MountManagerOptions {
  /** Absolute path of the state root (`/var/lib/sharemount`); created when missing. */
  root: string;
  backends: readonly AnyBackend[];
  logger?: Logger;
  timeouts?: Partial<Timeouts>;
}

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
}

export interface UnpublishOptions {
  /** Remove the target directory afterwards when it is empty (CSI wants it; kubelet's FlexVolume does it itself). Default true. */
  removeTarget?: boolean;
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
  publications: Publication[];
}

interface Context {
  root: string;
  state: StateStore;
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

  constructor(private readonly options: MountManagerOptions) {
    if (typeof options.root !== 'string' || !options.root.startsWith('/')) throw invalidArgument('root', 'must be an absolute path');
    const backends = new Map<string, AnyBackend>();
    for (const backend of options.backends) {
      if (!/^[a-z][a-z0-9-]{0,31}$/.test(backend.name)) throw invalidArgument('backends', `backend name "${backend.name}" must match ^[a-z][a-z0-9-]{0,31}$`);
      if (backends.has(backend.name)) throw invalidArgument('backends', `two backends are named "${backend.name}"`);
      backends.set(backend.name, backend);
    }
    this.backends = backends;
    this.logger = options.logger ?? silentLogger;
    this.timeouts = { ...defaultTimeouts, ...options.timeouts };
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

  /** The ShareKey a request would use, without touching anything. */
  async shareKeyOf(request: Pick<PublishRequest, 'source' | 'options' | 'sensitiveOptions'>): Promise<ShareKey> {
    const { secretKey } = await this.context();
    const share = checkShareRequest(request, this.backends);
    return shareKeyOf(share.backend, share.source, share.options, share.sensitiveOptions, secretKey);
  }

  /** The ShareKey of the publication at `target`, if sharemount has one there (one readlink). */
  async shareKeyAt(target: string): Promise<ShareKey | undefined> {
    const context = await this.context();
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(target, context.root)), context.root);
    return context.state.readIndex(canonical);
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
    const target = checkTargetShape(canonicalTarget(checked.target), context.root);
    return context.locks.withLock(`target:${target}`, () =>
      context.locks.withLock(`share:${key}`, () => this.publishLocked(context, { ...checked, target }, key)),
    );
  }

  /**
   * Removes the publication at `target`; the share's last one unmounts the share and removes its
   * directory. A target with nothing published is a success (`unpublished: false`). Broken and
   * hung mounts are still removed (umount, then forced, then lazy).
   */
  async unpublish(target: string, options: UnpublishOptions = {}): Promise<UnpublishResult> {
    const context = await this.context();
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(target, context.root)), context.root);
    return context.locks.withLock(`target:${canonical}`, async () => {
      const key = await context.state.readIndex(canonical);
      if (key === undefined) return { unpublished: false, shareUnmounted: false };
      return context.locks.withLock(`share:${key}`, async () => {
        const ref = await context.state.readRef(key, canonical);
        if (ref) {
          await strategies[ref.strategy].unpublish({
            target: canonical,
            sharePath: context.state.mountPoint(key),
            subPath: ref.subPath,
            removeTarget: options.removeTarget ?? true,
            timeoutMs: this.timeouts.commandMs,
            logger: this.logger,
          });
          await context.state.removeRef(key, canonical);
        }
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
    const context = await this.context();
    return reconcileShares({ ...context, backends: this.backends, timeouts: this.timeouts, logger: this.logger }, options.share);
  }

  private async publishLocked(context: Context, request: CheckedRequest, key: ShareKey): Promise<Publication> {
    const { state } = context;
    const { target } = request;
    const sharePath = state.mountPoint(key);
    const strategy = strategies[request.strategy];

    const indexed = await state.readIndex(target);
    const existing = indexed === undefined ? undefined : await state.readRef(indexed, target);
    if (indexed !== undefined && existing) {
      const same = indexed === key && existing.subPath === request.subPath && existing.readOnly === request.readOnly && existing.strategy === request.strategy;
      if (!same) {
        throw new SharemountError('ALREADY_EXISTS', `target: ${target} is already published with a different ${describeDifference(indexed, key, existing, request)}`, { field: 'target' });
      }
      if (await withTimeout(strategy.looksPublished({ target, sharePath, subPath: existing.subPath }), this.timeouts.fsMs, 'checking the target')) {
        return toPublication(existing, key, sharePath);
      }
      // A reference without its publication: a crash came between the two. Publish again.
    }
    // A target with no reference of ours must not already be a mount point; asked while the share
    // is checked (both only read), answered before anything is written.
    const foreign = request.strategy === 'bind' && !existing ? this.isForeignMountPoint(target) : Promise.resolve(false);
    foreign.catch(() => {}); // awaited below

    let mountedNow = false;
    let directory;
    try {
      directory = await this.hungShares.guard(key, sharePath, this.timeouts.fsMs, async () => {
        mountedNow = await this.ensureShareMounted(context, request, key);
        const opening = withTimeout(
          openInsideShare(sharePath, request.subPath, { create: request.createIfNecessary, mode: request.createMode }),
          this.timeouts.fsMs,
          'opening subPath in the share',
        );
        opening.catch(() => {}); // its failure is the caller's, whenever it awaits it
        // A share that was already mounted must also answer (statfs), so that a consumer is never
        // handed a dead mount (a FUSE daemon gone, an NFS handle gone stale): BROKEN_MOUNT, or
        // TIMEOUT when it does not answer. Asked while the sub-path is opened. A broken share is
        // not remounted under its other consumers; once the last of them goes it is unmounted,
        // and the next publish mounts it afresh.
        if (!mountedNow) {
          try {
            await withTimeout(statfs(sharePath), this.timeouts.fsMs, 'checking that the share answers');
          } catch (error) {
            void opening.then((opened) => opened.close()).catch(() => {});
            throw error;
          }
        }
        return opening;
      });
    } catch (error) {
      // Mounted iff referenced, also when a crash had left the share mounted with no reference.
      // A hung share is left to reconcile: unmounting it would wait for it too.
      if (mountedNow || !isSharemountError(error, 'TIMEOUT')) await this.releaseIfUnused(context, key);
      throw error;
    }
    try {
      let prepared;
      try {
        if (await foreign) throw new SharemountError('ALREADY_EXISTS', `target: ${target} is already a mount point that sharemount did not make`, { field: 'target' });
        prepared = request.strategy === 'bind' ? prepareTarget(target) : { created: false };
      } catch (error) {
        // A bad target (a mount point, a missing parent, a file, a symlink) must not leave the share mounted with no reference.
        await this.releaseIfUnused(context, key);
        throw error;
      }
      const ref: RefRecord = {
        version: 1,
        target,
        subPath: request.subPath,
        readOnly: request.readOnly,
        strategy: request.strategy,
        createdTarget: existing?.createdTarget ?? prepared.created,
        publishedAt: new Date().toISOString(),
      };
      // The reference first: a crash after it leaves a reference that reconcile can check and
      // drop; a crash after an unrecorded mount would leave a pod that nobody counts.
      await state.writeRef(key, ref);
      await state.writeIndex(target, key);
      try {
        await strategy.publish({ directory, sharePath, target, readOnly: request.readOnly, timeoutMs: this.timeouts.commandMs });
      } catch (error) {
        await state.removeRef(key, target);
        await state.removeIndex(target);
        if (prepared.created) await rmdir(target).catch(() => {});
        await this.releaseIfUnused(context, key);
        throw error;
      }
      this.logger.info({ target, share: key, subPath: request.subPath, readOnly: request.readOnly, strategy: request.strategy }, 'published');
      return toPublication(ref, key, sharePath);
    } finally {
      void directory.close().catch(() => {}); // the publication no longer needs it; nothing to wait for
    }
  }

  /**
   * Whether something is already mounted at a target that has no reference. Asynchronous and
   * bounded: on a mount point, opening even with O_PATH lets NFS revalidate the mount's root, so
   * a hung mount there must not block the process. A missing target is not a mount point.
   */
  private async isForeignMountPoint(target: string): Promise<boolean> {
    try {
      return await withTimeout(isMountPoint(target), this.timeouts.fsMs, 'checking the target');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Mounts the share unless the kernel already shows it mounted; returns whether it mounted it now. */
  private async ensureShareMounted(context: Context, request: CheckedRequest, key: ShareKey): Promise<boolean> {
    const sharePath = context.state.mountPoint(key);
    const mounted = await withTimeout(isMountPoint(sharePath), this.timeouts.fsMs, 'checking the share').catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    });
    if (mounted) return false;
    await context.state.createShare({
      version: 1,
      key,
      backend: request.backend.name,
      source: { ...request.source },
      options: [...request.options],
      hasSensitiveOptions: request.sensitiveOptions.length > 0,
      createdAt: new Date().toISOString(),
    });
    try {
      await request.backend.mount({
        source: request.source,
        options: request.options,
        sensitiveOptions: request.sensitiveOptions,
        mountPoint: sharePath,
        timeoutMs: this.timeouts.commandMs,
        logger: this.logger,
      });
      if (!(await isMountPoint(sharePath))) {
        throw new SharemountError('INTERNAL', `backend ${request.backend.name} reported success but nothing is mounted at the share`);
      }
    } catch (error) {
      await this.releaseIfUnused(context, key);
      throw error;
    }
    this.logger.info({ share: key }, 'share mounted');
    return true;
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
    await mkdir(this.options.root, { recursive: true, mode: 0o700 });
    const root = await realpath(this.options.root);
    const identity = await stat(root);
    return {
      root,
      state: new StateStore(root),
      locks: new KeyedLock(`${identity.dev}:${identity.ino}`, this.timeouts.lockMs),
      secretKey: await loadRootKey(join(root, '_key')),
    };
  }
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
  };
}

function describeDifference(indexed: ShareKey, key: ShareKey, existing: RefRecord, request: CheckedRequest): string {
  if (indexed !== key) return 'source or options';
  if (existing.subPath !== request.subPath) return 'subPath';
  if (existing.readOnly !== request.readOnly) return 'readOnly';
  return 'strategy';
}
