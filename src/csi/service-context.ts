import { SharemountError, isSharemountError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MountManager } from '../mount-manager.js';
import { canonicalTarget, checkTargetShape } from '../target.js';
import type { PluginMetrics } from './metrics.js';
import type { CsiPluginOptions } from './plugin-options.js';
import type { VolumeQueue } from './volume-queue.js';

/** What every service's calls share. */
export interface ServiceContext {
  options: CsiPluginOptions;
  manager: MountManager;
  queue: VolumeQueue;
  logger: Logger;
  /** This node's topology segments: the options', or the default node-local provisioning needs (plugin.ts). */
  topology: Readonly<Record<string, string>> | undefined;
  /** Where calls and copies are recorded: a recorder that does nothing when metrics are off (metrics.ts). */
  metrics: PluginMetrics;
}

/** What a call gets besides its request: when the CO stops waiting for it (ms since the epoch; Infinity for never). */
export interface CallInfo {
  deadline: number;
}

/**
 * A path of a request, checked like a publication target and canonical (its parent's symlinks
 * resolved). `parentMustExist` for a call that makes something there (see canonicalTarget).
 */
export async function checkedPath(manager: MountManager, path: string, field: string, { parentMustExist = false } = {}): Promise<string> {
  const root = await manager.root();
  const checked = checkTargetShape(canonicalTarget(checkTargetShape(path, root, field), { parentMustExist, field }), root, field);
  // A path something is made at is checked by identity too (another path to the root).
  if (parentMustExist) await manager.checkTargetPlace(checked, field);
  return checked;
}

/**
 * The core names the path a publication is made at `target`; a CSI call names it by its own
 * field (`staging_target_path`), and so do the errors it answers with.
 */
export function renameTargetField(error: unknown, field: string): unknown {
  if (!isSharemountError(error) || error.field !== 'target') return error;
  return new SharemountError(error.code, error.message.replace(/^target\b/, field), { field, cause: error, details: error.details });
}
