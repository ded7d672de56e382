import { basename, join } from 'node:path';
import type { AnyBackend, Source } from '../backend.js';
import { SharemountError, fromZodError, invalidArgument } from '../errors.js';
import { mountAt, readMountInfoText } from '../mountinfo.js';
import { canonicalTarget } from '../target.js';
import { pickBackend } from '../volume-parameters.js';
import { checkBackendServes } from './backend-abilities.js';
import { blockDeviceBytes, blockStagingFile, blockStagingFilesShowing, publishBlock, stageBlock, unstageBlock } from './block-volume.js';
import type { MountCapability } from './requests.js';
import type { CallInfo, ServiceContext } from './service-context.js';

/*
 * The Node service's calls for raw block volumes (block-volume.ts has the mechanics): the
 * node-service handlers hand over here once the capability (or the paths) say block.
 */

/** A read-only bind of a device node still lets anyone write to the device: refused rather than pretended. */
function refuseReadOnly(field: string, volumeId: string): never {
  throw invalidArgument(field, `volume ${volumeId} is a raw block volume: a read-only publication of a device node cannot be enforced (a read-only bind mount still lets writes through), so it is refused`);
}

export async function stageBlockVolume(context: ServiceContext, request: { volume_id: string }, capability: MountCapability, backend: AnyBackend, source: Source, staging: string, call: CallInfo): Promise<object> {
  const { manager, queue, logger } = context;
  if (capability.readerOnly) refuseReadOnly('volume_capability.access_mode.mode', request.volume_id);
  const parsed = backend.sourceSchema.safeParse(source);
  if (!parsed.success) throw fromZodError(parsed.error, 'volume_context');
  return queue.run(request.volume_id, call.deadline, async () => {
    if ((await manager.publicationAt(staging)) !== undefined || mountAt(readMountInfoText(), staging) !== undefined) {
      throw new SharemountError('FAILED_PRECONDITION', `staging_target_path: ${staging} has a filesystem volume staged; unstage it before staging block volume ${request.volume_id} there`, { field: 'staging_target_path' });
    }
    // The same gate a share's mount passes (the LVM backend's owner tag, unless mountAnyLogicalVolume).
    await backend.admit?.(parsed.data);
    const device = await backend.blockDevice!(parsed.data);
    // Under the staging file's lock, which the bind inherits: a mount left running by a killed
    // plugin ends before a retry looks at the file (the target lock of docs/locking.md).
    const file = blockStagingFile(staging, request.volume_id);
    const outcome = await manager.withTargetLock(file, () => stageBlock(device, staging, request.volume_id, manager.timeouts.commandMs));
    logger.info({ volumeId: request.volume_id, staging, device, outcome }, 'staged block volume');
    return {};
  });
}

/**
 * Unstages the volume's block staging file when the staging directory has one; false when it is
 * no block volume's (a filesystem staged there is looked at by the mount table only, never
 * entered: it may hang).
 */
export async function unstageBlockVolume(context: ServiceContext, staging: string, volumeId: string): Promise<boolean> {
  if (mountAt(readMountInfoText(), staging) !== undefined) return false;
  const file = blockStagingFile(staging, volumeId);
  const done = await context.manager.withTargetLock(file, () => unstageBlock(staging, volumeId, context.manager.timeouts.commandMs, context.logger));
  if (done) context.logger.info({ volumeId, staging }, 'unstaged block volume');
  return done;
}

export async function publishBlockVolume(context: ServiceContext, request: { volume_id: string; volume_context: Record<string, string> }, capability: MountCapability, readOnly: boolean, staging: string, target: string, call: CallInfo): Promise<object> {
  checkBackendServes(pickBackend({ ...request.volume_context }, context.options.backends, 'volume_context'), capability, 'volume_capability');
  if (readOnly) refuseReadOnly(capability.readerOnly ? 'volume_capability.access_mode.mode' : 'readonly', request.volume_id);
  return context.queue.run(request.volume_id, call.deadline, async () => {
    const singleWriter = capability.mode === 'SINGLE_NODE_SINGLE_WRITER';
    const outcome = await context.manager.withTargetLock(target, () => publishBlock(staging, target, request.volume_id, singleWriter, context.manager.timeouts.commandMs));
    context.logger.info({ volumeId: request.volume_id, staging, target, outcome }, 'published block volume');
    return {};
  });
}

/** NOT_FOUND when `target` shows another block volume than `volumeId`: an unpublish leaves it alone. */
export function checkBlockTargetShows(target: string, volumeId: string): void {
  const staged = blockStagingFilesShowing(readMountInfoText(), target);
  if (staged.length > 0 && !staged.some((file) => basename(file) === basename(blockStagingFile('/', volumeId)))) {
    throw new SharemountError('NOT_FOUND', `volume_id: volume ${volumeId} is not published at ${target} (another block volume is); left alone`, { field: 'volume_id' });
  }
}

/**
 * The bind of a block volume's device node that `volume_path` names: the path itself (a target
 * file), or the volume's staging file in it (a staging directory). Undefined when the path shows
 * no block volume; NOT_FOUND when it shows another one. The mount table only: nothing is looked up.
 */
export function blockFileShowing(volumeId: string, volumePath: string): string | undefined {
  if (!volumePath.startsWith('/')) return undefined;
  const path = canonicalTarget(volumePath);
  const table = readMountInfoText();
  const name = basename(blockStagingFile('/', volumeId));
  const shown = mountAt(table, path) === undefined ? join(path, name) : path;
  const staged = blockStagingFilesShowing(table, shown);
  if (staged.length === 0) return undefined;
  if (!staged.some((file) => basename(file) === name)) {
    throw new SharemountError('NOT_FOUND', `volume_path: volume ${volumeId} is not staged or published at ${volumePath}`, { field: 'volume_path' });
  }
  return shown;
}

/**
 * NodeGetVolumeStats of a block volume: `volume_path` is its target file or its staging
 * directory. Undefined when the path shows no block volume (a filesystem's stats apply then).
 */
export async function blockVolumeStats(volumeId: string, volumePath: string): Promise<object | undefined> {
  const shown = blockFileShowing(volumeId, volumePath);
  if (shown === undefined) return undefined;
  const total = await blockDeviceBytes(shown);
  // A raw device has no notion of used space or inodes: bytes total only, as the spec allows.
  return { usage: [{ unit: 'BYTES', total }], volume_condition: { abnormal: false, message: 'the device is there' } };
}
