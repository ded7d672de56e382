/**
 * Invariants 1, 4 and 5 across processes: eight processes publish and unpublish at random on
 * three sources sharing one state root at once, as kubelet runs one FlexVolume driver process
 * per call. Nothing crashes here, so afterwards every reference must match a real publication
 * without any repair, and reconcile must find nothing to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { assertInvariants } from '../helpers/invariants.js';
import { changedOrRemoved, fingerprint } from '../helpers/fingerprint.js';
import { createSandbox, entriesOf, mountsUnder, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import { threeSourceConfig, runWorker } from '../helpers/workers.js';
import type { WorkerConfig, WorkerSummary } from '../helpers/operations.js';
import type { ReconcileReport } from '../../src/reconcile.js';

const skip = skipUnlessReady();

describe.skipIf(skip)('core: many processes on one state root', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let config: Omit<WorkerConfig, 'seed'>;

  beforeAll(async () => {
    sandbox = await createSandbox();
    config = { ...(await threeSourceConfig(sandbox, 4)), ops: 100 };
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  it('8 processes x 100 random operations on 3 sources leave every reference matching a real publication', async () => {
    const before = await fingerprint(sandbox.source);
    const summaries = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runWorker<WorkerSummary>(sandbox, { ...config, seed: 1000 + i })),
    );
    const total = (field: keyof WorkerSummary) => summaries.reduce((sum, s) => sum + s[field], 0);
    // The random mix did what it is for: shares were mounted and unmounted again and again
    // (3 targets per source), and callers disagreed about targets.
    expect(total('published')).toBeGreaterThan(100);
    expect(total('unpublished')).toBeGreaterThan(50);
    expect(total('sharesUnmounted')).toBeGreaterThan(10);
    expect(total('conflicts')).toBeGreaterThan(0);

    await assertInvariants(manager, { pods: sandbox.pods });
    const shares = await manager.list();
    expect(shares.length).toBeGreaterThan(0);
    expect(shares.every((share) => share.mounted && share.publications.length > 0)).toBe(true);

    // Nothing crashed, so there is nothing to repair.
    const report = await manager.reconcile();
    expect(report).toMatchObject({ droppedReferences: [], adoptedPublications: [], repairedReadOnly: [], unmountedShares: [], remountedShares: [], droppedIndexEntries: 0, problems: [] });

    for (const share of shares) for (const publication of share.publications) await manager.unpublish(publication.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
    expect(await entriesOf(sandbox.pods)).toEqual([]);
    expect(changedOrRemoved(before, await fingerprint(sandbox.source))).toEqual([]);
  });

  it('reconcile running all the while never mistakes an operation in flight for debris', async () => {
    let done = false;
    const reports: ReconcileReport[] = [];
    const reconciling = (async () => {
      while (!done) reports.push(await manager.reconcile());
    })();
    try {
      await Promise.all(Array.from({ length: 4 }, (_, i) => runWorker<WorkerSummary>(sandbox, { ...config, ops: 60, seed: 2000 + i })));
    } finally {
      done = true;
      await reconciling;
    }
    expect(reports.length).toBeGreaterThan(1);
    // Nothing crashed, so every repair would have been a live operation taken for debris.
    const repairs = reports.filter((r) => r.droppedReferences.length + r.adoptedPublications.length + r.unmountedShares.length + r.remountedShares.length + r.repairedReadOnly.length + r.droppedIndexEntries + r.problems.length > 0);
    expect(repairs).toEqual([]);
    await assertInvariants(manager, { pods: sandbox.pods });

    for (const share of await manager.list()) for (const publication of share.publications) await manager.unpublish(publication.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});
