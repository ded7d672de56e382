import { SharemountError, isSharemountError } from '../errors.js';
import { optionName } from '../options.js';
import { pickBackend, volumeOf } from '../volume-parameters.js';
import { volumeStats } from '../volume-stats.js';
import { checkBackendServes, existingVolume, expandsOnNodes } from './backend-abilities.js';
import { blockFileShowing, blockVolumeStats, checkBlockTargetShows, publishBlockVolume, stageBlockVolume, unstageBlockVolume } from './block-node.js';
import { checkCapability, expandRequest, parseRequest, publishRequest, stageRequest, statsRequest, unpublishRequest, unstageRequest } from './requests.js';
import { parseCsiVolumeId } from './volume-id.js';
import { bindStaged, unbindTarget } from './staged-bind.js';
import { unmountLayers } from './block-volume.js';
import { brokenCopyOfStaged, detachBrokenCopies, healStaged, healVolumePath } from './heal-volume.js';
import { ReadOnlyIntents } from './read-only-intents.js';
import { mayShow, otherVolumeIn, pathShowing, volumesAt, writableTargetsOf } from './volumes-at.js';
import { checkedPath, renameTargetField, type CallInfo, type ServiceContext } from './service-context.js';
import { checkTargetApartFromStaging } from './target-apart.js';

const nodeCapabilities = ['STAGE_UNSTAGE_VOLUME', 'GET_VOLUME_STATS', 'VOLUME_CONDITION', 'SINGLE_NODE_MULTI_WRITER'] as const;

// Mount flag names that carry a secret (`password=`, `credentials=`, `token=`...).
const secretFlagName = /pass|pwd|secret|token|cred|key/i;

/**
 * The spec warns that mount flags may hold secrets. The share's plain options appear in its
 * path under the state root and in its record; a flag whose name says it is a secret goes with
 * the sensitive options instead, which are only ever passed to mount(8) (and HMAC'd into the
 * share's identity). A flag item may hold several options joined by commas (a PV's
 * `mountOptions: ["vers=4.1,hard"]`), and a secret value may hold a comma itself
 * (`password=a,b`): an item with any secret-looking name in it is sensitive whole.
 */
export function splitMountFlags(flags: readonly string[]): { plain: string[]; sensitive: string[] } {
  const plain: string[] = [];
  const sensitive: string[] = [];
  for (const item of flags) {
    const pieces = item.split(',');
    (pieces.some((piece) => secretFlagName.test(optionName(piece))) ? sensitive : plain).push(...pieces);
  }
  return { plain, sensitive };
}

/**
 * The Node service (docs/csi.md):
 * - NodeStageVolume publishes `share/subPath` onto the staging path: the reference is the
 *   staging path, so every PV that is a sub-directory of one export shares one mount of it;
 * - NodePublishVolume bind-mounts the staging path onto the pod's target (`ro` when asked);
 * - NodeUnpublishVolume unmounts the target and removes it;
 * - NodeUnstageVolume unpublishes the staging path: the share's last one unmounts the share.
 * A raw block volume (a block capability, LVM) goes through block-node.ts instead: its device
 * node is bound onto a staging file, and that onto the target file.
 * Calls for one volume run one at a time (VolumeQueue); every input is checked before anything
 * is touched.
 */
export function nodeService(service: ServiceContext) {
  const { options, manager, queue, logger, topology } = service;
  const timeouts = manager.timeouts;
  let intents: ReadOnlyIntents | undefined;
  const readOnlyIntents = async () => (intents ??= new ReadOnlyIntents(`${await manager.root()}/_csi-read-only`));
  const { NodeExpandVolume, ...always } = {
    async NodeStageVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(stageRequest, raw);
      const capability = checkCapability(request.volume_capability);
      const staging = await checkedPath(manager, request.staging_target_path, 'staging_target_path');
      const context = { ...request.volume_context };
      const backend = pickBackend(context, options.backends, 'volume_context');
      checkBackendServes(backend, capability, 'volume_capability');
      const input = options.toParameters ? options.toParameters(context, { secrets: request.secrets, fsType: capability.fsType }, backend) : context;
      const { volume } = volumeOf(backend, input, 'volume_context');
      if (capability.block) return stageBlockVolume(service, request, capability, backend, volume.source, staging, call);
      return queue.run(request.volume_id, call.deadline, async () => {
        const other = otherVolumeIn(await manager.publicationAt(staging), request.volume_id);
        if (other !== undefined) {
          throw new SharemountError('FAILED_PRECONDITION', `staging_target_path: ${staging} holds volume ${other}; unstage it before staging ${request.volume_id} there`, { field: 'staging_target_path' });
        }
        // The capability's mount flags (a PV's mountOptions) are the share's mount options.
        const flags = splitMountFlags(capability.mountFlags);
        const shareOptions = [...(volume.options ?? []), ...flags.plain];
        const sensitiveOptions = [...(volume.sensitiveOptions ?? []), ...flags.sensitive];
        const readOnly = volume.readOnly === true || capability.readerOnly;
        const staged = { ...volume, options: shareOptions, sensitiveOptions, readOnly, target: staging, strategy: 'bind' as const, label: request.volume_id };
        const publication = await manager.publish(staged).catch((error: unknown) => {
          throw renameTargetField(error, 'staging_target_path');
        });
        logger.info({ volumeId: request.volume_id, staging, share: publication.shareKey, subPath: publication.subPath, readOnly }, 'staged');
        return {};
      });
    },

    async NodeUnstageVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(unstageRequest, raw);
      const staging = await checkedPath(manager, request.staging_target_path, 'staging_target_path');
      return queue.run(request.volume_id, call.deadline, async () => {
        const other = otherVolumeIn(await manager.publicationAt(staging), request.volume_id);
        if (other !== undefined) {
          throw new SharemountError('NOT_FOUND', `volume_id: volume ${request.volume_id} is not staged at ${staging} (volume ${other} is); left alone`, { field: 'volume_id' });
        }
        if (await unstageBlockVolume(service, staging, request.volume_id)) return {};
        // kubelet made the staging directory and removes it itself.
        const result = await manager.unpublish(staging, { removeTarget: false }).catch((error: unknown) => {
          throw renameTargetField(error, 'staging_target_path');
        });
        // A mount there that the records say nothing of (a killed plugin's mount that landed after
        // its reference was dropped, or one stacked on the publication): the CO asks for the path
        // unmounted, and NodeUnpublishVolume removes such a mount at a target too. Another
        // volume's publication is left alone.
        const unrecorded = await manager.withTargetLock(staging, async () => {
          const found = await volumesAt(manager, staging);
          if (!found.mounted || (await manager.publicationAt(staging)) !== undefined) return false;
          if (found.volumes.size > 0 && !mayShow(found, request.volume_id)) {
            throw new SharemountError('NOT_FOUND', `volume_id: volume ${request.volume_id} is not staged at ${staging} (it shows volume ${[...found.volumes].join(', ')}); left alone`, { field: 'volume_id' });
          }
          return unmountLayers(staging, timeouts.commandMs, logger);
        });
        logger.info({ volumeId: request.volume_id, staging, ...result, ...(unrecorded ? { unmountedUnrecorded: true } : {}) }, 'unstaged');
        return {};
      });
    },

    async NodePublishVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(publishRequest, raw);
      const capability = checkCapability(request.volume_capability);
      const staging = await checkedPath(manager, request.staging_target_path, 'staging_target_path');
      const target = await checkedPath(manager, request.target_path, 'target_path', { parentMustExist: true });
      checkTargetApartFromStaging(staging, target);
      const readOnly = request.readonly || capability.readerOnly;
      if (capability.block) return publishBlockVolume(service, request, capability, readOnly, staging, target, call);
      return queue.run(request.volume_id, call.deadline, async () => {
        const staged = await manager.publicationAt(staging);
        const other = otherVolumeIn(staged, request.volume_id);
        if (staged === undefined || other !== undefined) {
          const instead = other === undefined ? '' : ` (volume ${other} is)`;
          throw new SharemountError('FAILED_PRECONDITION', `volume ${request.volume_id} is not staged at staging_target_path ${staging}${instead}; NodeStageVolume must succeed first`, { field: 'staging_target_path' });
        }
        if (capability.mode === 'SINGLE_NODE_SINGLE_WRITER' && !readOnly) {
          // One writer at a time: a second writable target of the same staged volume is refused.
          const others = await writableTargetsOf(manager, staging, target);
          if (others.length > 0) {
            throw new SharemountError('FAILED_PRECONDITION', `volume ${request.volume_id} is SINGLE_NODE_SINGLE_WRITER and already published at ${others.join(', ')}`, { field: 'target_path' });
          }
        }
        // A share that broke since is healed, and a target still showing the broken mount is bound again (docs/healing.md).
        await healStaged(manager, staging);
        // Under the target's lock, which the bind and its ro step inherit: a mount left running by
        // a killed plugin must end before a retry looks at the target, or it lands on top.
        const intents = await readOnlyIntents();
        const outcome = await manager.withTargetLock(target, async () => {
          await detachBrokenCopies(staging, target, timeouts.commandMs, logger);
          return bindStaged(staging, target, readOnly, timeouts.commandMs, intents);
        });
        logger.info({ volumeId: request.volume_id, staging, target, readOnly, outcome }, 'published');
        return {};
      });
    },

    async NodeUnpublishVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(unpublishRequest, raw);
      const target = await checkedPath(manager, request.target_path, 'target_path');
      return queue.run(request.volume_id, call.deadline, async () => {
        // Another volume's publication is left alone; a mount the records say nothing of (its
        // staging gone) is this call's to remove, as kubelet asks.
        checkBlockTargetShows(target, request.volume_id);
        const found = await volumesAt(manager, target);
        if (found.mounted && found.volumes.size > 0 && !mayShow(found, request.volume_id)) {
          throw new SharemountError('NOT_FOUND', `volume_id: volume ${request.volume_id} is not published at ${target} (it shows volume ${[...found.volumes].join(', ')}); left alone`, { field: 'volume_id' });
        }
        const intents = await readOnlyIntents();
        const { unmounted } = await manager.withTargetLock(target, () => unbindTarget(target, timeouts.commandMs, logger, intents));
        logger.info({ volumeId: request.volume_id, target, unmounted }, 'unpublished');
        return {};
      });
    },

    async NodeGetVolumeStats(raw: unknown, call: CallInfo) {
      const request = parseRequest(statsRequest, raw);
      const block = await blockVolumeStats(request.volume_id, request.volume_path);
      if (block !== undefined) return block;
      const staging = request.staging_target_path ? await checkedPath(manager, request.staging_target_path, 'staging_target_path') : undefined;
      const path = await pathShowing(manager, request.volume_id, request.volume_path).catch(async (error: unknown) => {
        // A target still showing the volume as it was before its share healed is the volume's too.
        const copy = staging === undefined ? undefined : await brokenCopyOfStaged(manager, request.volume_id, request.volume_path, staging, timeouts.fsMs);
        if (copy === undefined) throw error;
        return copy;
      });
      try {
        const stats = await volumeStats(path, timeouts.fsMs).catch(async (error: unknown) => {
          // A broken volume is healed when it can be (docs/healing.md), and asked again.
          if (!isSharemountError(error, 'BROKEN_MOUNT')) throw error;
          const intents = await readOnlyIntents();
          const rebind = (from: string, to: string, readOnly: boolean) => manager.withTargetLock(to, () => bindStaged(from, to, readOnly, timeouts.commandMs, intents));
          const healed = await queue.run(request.volume_id, call.deadline, () => healVolumePath(manager, path, staging, rebind, timeouts.commandMs, logger));
          if (!healed) throw error;
          return volumeStats(path, timeouts.fsMs);
        });
        return {
          usage: [
            { unit: 'BYTES', total: stats.totalBytes, used: stats.usedBytes, available: stats.availableBytes },
            { unit: 'INODES', total: stats.totalInodes, used: stats.usedInodes, available: stats.freeInodes },
          ],
          volume_condition: { abnormal: false, message: 'the volume answers' },
        };
      } catch (error) {
        // A broken or hung mount is the condition the CO asks about, not a failed call.
        if (!isSharemountError(error, 'BROKEN_MOUNT') && !isSharemountError(error, 'TIMEOUT')) throw error;
        return { usage: [], volume_condition: { abnormal: true, message: error.message } };
      }
    },

    async NodeExpandVolume(raw: unknown, call: CallInfo) {
      const request = parseRequest(expandRequest, raw);
      const found = parseCsiVolumeId(request.volume_id, options.backends);
      if (found === undefined) throw new SharemountError('NOT_FOUND', `volume_id: no volume ${request.volume_id}`, { field: 'volume_id' });
      const block = blockFileShowing(request.volume_id, request.volume_path) !== undefined;
      if (!block) await pathShowing(manager, request.volume_id, request.volume_path);
      const { backend, volumeId } = found;
      // A volume that is not node-local (NFS) grew in ControllerExpandVolume, and has no
      // filesystem of its own on this node to grow: the size asked is the answer.
      if (!backend.nodeLocal) return { capacity_bytes: request.capacity_range?.required_bytes || request.capacity_range?.limit_bytes || 0 };
      if (!backend.expandVolume) throw new SharemountError('NOT_FOUND', `volume_id: no volume ${request.volume_id} that grows on this node`, { field: 'volume_id' });
      return queue.run(request.volume_id, call.deadline, async () => {
        const described = await existingVolume(backend, volumeId, request.volume_id);
        const range = request.capacity_range;
        // Without a size the volume keeps its own, and its filesystem is grown to fill it.
        const bytes = range?.required_bytes || range?.limit_bytes || described.capacityBytes;
        if (bytes === undefined || bytes === 0) return { capacity_bytes: 0 };
        const { capacityBytes } = await backend.expandVolume!(volumeId, bytes, undefined, { filesystem: !block });
        logger.info({ volumeId: request.volume_id, capacityBytes }, 'expanded volume on the node');
        return { capacity_bytes: capacityBytes };
      });
    },

    async NodeGetCapabilities() {
      const types = [...nodeCapabilities, ...(expandsOnNodes(options.backends) ? ['EXPAND_VOLUME'] : [])];
      return { capabilities: types.map((type) => ({ rpc: { type } })) };
    },

    async NodeGetInfo() {
      const { nodeId, maxVolumesPerNode } = options;
      return { node_id: nodeId, max_volumes_per_node: maxVolumesPerNode ?? 0, accessible_topology: topology === undefined ? null : { segments: topology } };
    },
  };
  // Served only where some volume grows on its node: anything else answers UNIMPLEMENTED.
  return expandsOnNodes(options.backends) ? { ...always, NodeExpandVolume } : always;
}
