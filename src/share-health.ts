import { statfs } from 'node:fs/promises';
import { isSharemountError } from './errors.js';
import type { HungShares } from './hung-shares.js';
import type { Timeouts } from './manager-options.js';
import type { ShareKey } from './share-key.js';
import { withTimeout } from './timeout.js';

/**
 * What a share's root answers to one bounded question (statfs):
 * - `answering`: it works;
 * - `broken`: it answers with an error of a dead mount (ENOTCONN, ESTALE, EIO...: broken-mount.ts),
 *   so it can be mounted again and its publications made again from the fresh mount (heal.ts);
 * - `hung`: it does not answer in time, or is known not to. Never touched by force: its server
 *   may come back and flush what its clients wrote.
 * The caller knows the share is mounted (a statfs of an unmounted share's directory would ask the
 * state root's filesystem instead).
 */
export type ShareHealth = { state: 'answering' } | { state: 'broken'; why: string } | { state: 'hung'; why: string };

export async function shareHealth(deps: { hungShares: HungShares; timeouts: Timeouts }, key: ShareKey, sharePath: string): Promise<ShareHealth> {
  const { fsMs } = deps.timeouts;
  try {
    await deps.hungShares.guard(key, sharePath, fsMs, () => withTimeout(statfs(sharePath), fsMs, `checking that the share ${key} answers`));
    return { state: 'answering' };
  } catch (error) {
    if (isSharemountError(error, 'BROKEN_MOUNT')) return { state: 'broken', why: error.message };
    if (isSharemountError(error, 'TIMEOUT')) return { state: 'hung', why: error.message };
    throw error;
  }
}
