import { applyFsGroup } from '../fs-group.js';
import { isSharemountError } from '../errors.js';
import { openInsideShare } from '../subpath.js';
import type { MountManager, Publication } from '../mount-manager.js';
import type { CallArguments } from './calls.js';
import type { CallContext } from './call-context.js';
import { parseVolumeOptions, redactOptions } from './kubelet-options.js';
import { success, type Reply } from './reply.js';
import { toVolumeRequest } from './volume-request.js';

/**
 * `mount <podVolumeDir> <json>`: publish the volume onto the pod's directory. Every input is
 * validated before anything is touched. The share is reconciled first (no long-running process
 * exists to do it, and a pod whose earlier call was killed may never be called again), then
 * published; the pod's fsGroup is applied to the published directory. When anything fails after
 * the publication it is undone, since kubelet removes the directory of a failed mount and would
 * skip the next attempt if a mount were left on it.
 */
export async function mountCall(args: CallArguments<'mount'>, context: CallContext): Promise<Reply> {
  const { driver, logger } = context;
  const parsed = parseVolumeOptions(args.json);
  const pod = parsed.kubelet.pod;
  const fields = { podVolumeDir: args.podVolumeDir, pod: `${pod.namespace ?? '?'}/${pod.name ?? '?'}`, podUid: pod.uid };
  if (parsed.unknownKubeletKeys.length > 0) logger.info({ ...fields, keys: parsed.unknownKubeletKeys }, 'ignoring kubelet option keys this shim does not know');
  logger.debug({ ...fields, options: redactOptions(JSON.parse(args.json) as Record<string, unknown>, driver.sensitiveOptionKeys) }, 'mount');

  const request = toVolumeRequest(parsed, driver, await context.backends());
  await driver.beforePublish?.({
    backend: request.backend,
    parameters: request.parameters,
    kubelet: parsed.kubelet,
    podVolumeDir: args.podVolumeDir,
    logger,
    remainingMs: context.remainingMs,
  });

  const manager = await context.manager();
  const { source, options, sensitiveOptions } = request.volume;
  await manager.reconcile({ share: await manager.shareKeyOf({ source, options, sensitiveOptions }) });
  // Read-only when kubelet says so or the volume's own parameters do.
  const readOnly = parsed.kubelet.readOnly || request.volume.readOnly === true;
  const publication = await manager.publish({
    ...request.volume,
    readOnly,
    target: args.podVolumeDir,
    strategy: request.strategy,
  });
  const { fsGroup } = parsed.kubelet;
  // As kubelet: fsGroup only for a writable volume (its SetUpAt skips read-only ones).
  if (fsGroup !== undefined && !readOnly) {
    try {
      await applyFsGroupTo(publication, fsGroup, context);
    } catch (error) {
      // kubelet's FlexVolume mounter ignores what its ownership walk returns, so a tree that
      // cannot be changed (a root-squashed export) still mounts; only a walk cut short by the
      // deadline fails the call, so that the retry walks again.
      if (isSharemountError(error, 'TIMEOUT')) {
        await undo(manager, args.podVolumeDir, context);
        throw error;
      }
      logger.warn({ ...fields, fsGroup, error: String(error) }, 'fsGroup could not be applied; mounted anyway, as kubelet does');
    }
  }
  logger.info({ ...fields, share: publication.shareKey, subPath: publication.subPath, strategy: publication.strategy, readOnly, fsGroup }, 'mounted');
  return success();
}

/**
 * Time kept back from the fsGroup walk for undoing the publication when the walk does not
 * finish: the call's own deadline must never answer while the mount is still on the pod's
 * directory (kubelet would fail to remove it, then skip the driver on the retry).
 */
function undoReserveMs(remainingMs: number): number {
  return Math.min(5_000, Math.max(500, remainingMs / 4));
}

async function applyFsGroupTo(publication: Publication, gid: number, context: CallContext): Promise<void> {
  // Through a descriptor opened inside the share, never through a path a pod could redirect.
  const directory = await openInsideShare(publication.sharePath, publication.subPath, { create: false, mode: 0o755 });
  try {
    const remaining = context.remainingMs();
    const onRootMismatch = context.config.fsGroupChangePolicy === 'OnRootMismatch';
    const result = await applyFsGroup(directory.procPath, gid, { timeoutMs: Math.max(0, remaining - undoReserveMs(remaining)), onRootMismatch });
    const fields = { target: publication.target, gid, ...result };
    // As kubelet: a chown or chmod refused (read-only, root-squashed) is logged and skipped.
    if (result.failed > 0) context.logger.warn(fields, 'fsGroup applied; some entries could not be changed');
    else context.logger.debug(fields, result.skipped ? 'fsGroup already applied (OnRootMismatch)' : 'fsGroup applied');
  } finally {
    await directory.close();
  }
}

async function undo(manager: MountManager, podVolumeDir: string, context: CallContext): Promise<void> {
  try {
    await manager.unpublish(podVolumeDir, { removeTarget: false });
  } catch (error) {
    context.logger.error({ podVolumeDir, error: String(error) }, 'could not undo the publication after a failed mount');
  }
}
