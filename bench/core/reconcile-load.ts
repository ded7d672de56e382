import { mkdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { readMountInfo } from '../../src/mountinfo.js';
import { isWithin } from '../../src/target.js';
import type { MountManager } from '../../src/mount-manager.js';
import type { ReconcileReport } from '../../src/reconcile.js';
import { forEachConcurrently } from './concurrently.js';
import type { Workspace } from './workspace.js';

/** 5,000 real bind publications over 100 shares, made through the manager. */
export interface ReferenceLoad {
  shares: number;
  publications: number;
  concurrency: number;
  targets: string[];
  buildMs: number;
}

interface Shape {
  shares: number;
  perShare: number;
  concurrency: number;
}

/**
 * Publishes `perShare` sub-directories of each of `shares` host directories (created by
 * `createIfNecessary`) with the bind strategy, `concurrency` publishes in flight (as many pods
 * starting at once), then checks the kernel shows exactly that many publications and shares.
 */
export async function buildReferences(manager: MountManager, ws: Workspace, shape: Shape): Promise<ReferenceLoad> {
  const requests: Array<{ source: { backend: string; path: string }; subPath: string; createIfNecessary: boolean; target: string }> = [];
  await mkdir(ws.path('load-targets'));
  for (let share = 0; share < shape.shares; share++) {
    const path = ws.path('load-sources', `s${share}`);
    await mkdir(path, { recursive: true });
    for (let ref = 0; ref < shape.perShare; ref++) {
      requests.push({ source: { backend: 'bind', path }, subPath: `d${ref}`, createIfNecessary: true, target: ws.path('load-targets', `t${share}-${ref}`) });
    }
  }
  // Round-robin over shares, as pods of different volumes arrive interleaved.
  requests.sort((a, b) => a.subPath.localeCompare(b.subPath) || a.source.path.localeCompare(b.source.path));
  const targets = requests.map((request) => request.target);
  const start = performance.now();
  try {
    await forEachConcurrently(requests, shape.concurrency, (request) => manager.publish(request));
  } catch (error) {
    await removeReferences(manager, targets, shape.concurrency).catch(() => {});
    throw error;
  }
  const buildMs = performance.now() - start;

  const mounts = await readMountInfo();
  const published = mounts.filter((entry) => isWithin(entry.mountPoint, ws.path('load-targets'))).length;
  const root = await manager.root();
  const shareMounts = mounts.filter((entry) => isWithin(entry.mountPoint, root)).length;
  if (published !== requests.length || shareMounts !== shape.shares) {
    throw new Error(`expected ${requests.length} publications and ${shape.shares} share mounts, the kernel shows ${published} and ${shareMounts}`);
  }
  return { shares: shape.shares, publications: requests.length, concurrency: shape.concurrency, targets, buildMs };
}

/** Unpublishes every target of the load; returns how long it took. */
export async function removeReferences(manager: MountManager, targets: readonly string[], concurrency: number): Promise<number> {
  const start = performance.now();
  await forEachConcurrently(targets, concurrency, (target) => manager.unpublish(target));
  return performance.now() - start;
}

/** Throws unless reconcile found all well (it must be measured doing the check, not repairs). */
export function expectNothingRepaired(report: ReconcileReport, shares: number): void {
  const repairs =
    report.droppedReferences.length +
    report.adoptedPublications.length +
    report.repairedReadOnly.length +
    report.unmountedShares.length +
    report.remountedShares.length +
    report.healedShares.length +
    report.droppedIndexEntries +
    report.problems.length;
  if (report.sharesChecked !== shares || repairs !== 0) {
    throw new Error(`reconcile checked ${report.sharesChecked} shares (expected ${shares}) and repaired ${repairs} things: ${JSON.stringify(report).slice(0, 500)}`);
  }
}
