import { HealJournals } from './heal-journal.js';
import { healShareLocked, type HealDeps } from './heal.js';
import type { KeyedLock } from './lock.js';
import { mountAt } from './mountinfo.js';
import type { ShareKey } from './share-key.js';
import { shareHealth } from './share-health.js';

/** What reconcile's heal step did. */
export interface HealedShare {
  share: ShareKey;
  /** The targets whose publications were made again from the fresh mount. */
  republished: string[];
}

export interface HealStepReport {
  healedShares: HealedShare[];
  droppedReferences: Array<{ share: ShareKey; target: string | undefined; reason: string }>;
  problems: Array<{ share: ShareKey; message: string }>;
}

/**
 * Reconcile's first step: every mounted share of `keys` is asked whether it answers (one
 * statfs each, side by side), and one that is broken is healed under its lock, as is one whose
 * heal a crash cut short. Returns the shares whose heal is still not over: their publications
 * may show a broken mount or none, and must not be judged as debris.
 */
export async function healBrokenShares(deps: HealDeps & { locks: KeyedLock }, keys: readonly ShareKey[], mountTable: string, report: HealStepReport): Promise<{ changed: boolean; pending: Set<ShareKey> }> {
  const journals = new HealJournals(deps.root);
  const wanted = new Set(keys);
  const pending = new Set(journals.pendingKeys().filter((key) => wanted.has(key)));
  let changed = false;
  const check = async (key: ShareKey) => {
    const sharePath = deps.state.mountPoint(key);
    if (!pending.has(key)) {
      if (mountAt(mountTable, sharePath) === undefined) return;
      // Unlocked first: a share that answers (nearly always) costs one statfs and no lock.
      if ((await shareHealth(deps, key, sharePath)).state !== 'broken') return;
    }
    const outcome = await deps.locks.withLock(`share:${key}`, () => healShareLocked(deps, key));
    if (outcome.status === 'healed') {
      changed = true;
      report.healedShares.push({ share: key, republished: outcome.republished });
      for (const target of outcome.dropped) report.droppedReferences.push({ share: key, target, reason: 'target gone (found while healing the share)' });
      for (const message of outcome.problems) report.problems.push({ share: key, message });
    } else if (outcome.status === 'failed') {
      report.problems.push({ share: key, message: `broken; not healed: ${outcome.message}` });
    }
    if (journals.read(key) === undefined) pending.delete(key);
    else pending.add(key);
  };
  for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map(check));
  return { changed, pending };
}
