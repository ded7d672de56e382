import { isMountPoint } from '../mount-point.js';
import { unmountPublication } from '../mount-command.js';
import { checkTargetShape } from '../target.js';
import { withTimeout } from '../timeout.js';
import type { CallArguments } from './calls.js';
import type { CallContext } from './call-context.js';
import { success, type Reply } from './reply.js';

/**
 * `unmount <podVolumeDir>`: remove the pod's publication; the share's last one unmounts the
 * share. The directory itself stays (kubelet removes it). The share is reconciled first, so
 * that references left by killed calls do not keep it mounted after its last pod. A directory
 * with nothing published is a success: kubelet retries tear-down until it gets one. A mount on
 * it that sharemount has no record of (its state root lost or moved, a driver it replaced) is
 * unmounted as kubelet's own fallback would, never forced: otherwise kubelet could never
 * remove the directory.
 */
export async function unmountCall(args: CallArguments<'unmount'>, context: CallContext): Promise<Reply> {
  const manager = await context.manager();
  const target = checkTargetShape(args.podVolumeDir, await manager.root(), 'podVolumeDir');
  const share = await manager.shareKeyAt(target);
  if (share !== undefined) await manager.reconcile({ share });
  const result = await manager.unpublish(target, { removeTarget: false });
  context.logger.info({ podVolumeDir: target, share, ...result }, 'unmounted');
  if (!result.unpublished && (await withTimeout(isMountPoint(target), manager.timeouts.fsMs, 'checking podVolumeDir').catch((error: unknown) => (error as NodeJS.ErrnoException).code !== 'ENOENT'))) {
    const outcome = await unmountPublication(target, manager.timeouts.commandMs, context.logger);
    context.logger.warn({ podVolumeDir: target, outcome }, 'unmounted a mount on the pod directory that sharemount had no record of');
  }
  return success();
}
