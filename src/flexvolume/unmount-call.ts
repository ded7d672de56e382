import { checkTargetShape } from '../target.js';
import type { CallArguments } from './calls.js';
import type { CallContext } from './call-context.js';
import { success, type Reply } from './reply.js';

/**
 * `unmount <podVolumeDir>`: remove the pod's publication; the share's last one unmounts the
 * share. The directory itself stays (kubelet removes it). The share is reconciled first, so
 * that references left by killed calls do not keep it mounted after its last pod. A directory
 * with nothing published is a success: kubelet retries tear-down until it gets one.
 */
export async function unmountCall(args: CallArguments<'unmount'>, context: CallContext): Promise<Reply> {
  const manager = await context.manager();
  const target = checkTargetShape(args.podVolumeDir, await manager.root(), 'podVolumeDir');
  const share = await manager.shareKeyAt(target);
  if (share !== undefined) await manager.reconcile({ share });
  const result = await manager.unpublish(target, { removeTarget: false });
  context.logger.info({ podVolumeDir: target, share, ...result }, 'unmounted');
  return success();
}
