/**
 * Invariants 1, 4 and 7 under SIGKILL: processes are killed at random points of publish and
 * unpublish (200 times), and at exact points (just before and after the share's mount, the
 * publication's mount, the publication's unmount and the share's unmount in the last
 * unpublish). After `reconcile()` every invariant holds, the report says what was repaired, a
 * second reconcile finds nothing, and no file in any source was changed or removed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { readMountInfo, topMounts } from '../../src/mountinfo.js';
import { assertInvariants, invariantViolations } from '../helpers/invariants.js';
import { changedOrRemoved, fingerprint, type TreeEntry } from '../helpers/fingerprint.js';
import { createSandbox, mountsUnder, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';
import { threeSourceConfig, startWorker } from '../helpers/workers.js';
import { writeCrashWrappers } from '../helpers/crash-wrappers.js';
import { usualRequest, type WorkerConfig } from '../helpers/operations.js';
import type { ReconcileReport } from '../../src/reconcile.js';

const skip = skipUnlessReady();

const emptyReport = { droppedReferences: [], adoptedPublications: [], repairedReadOnly: [], unmountedShares: [], remountedShares: [], healedShares: [], droppedIndexEntries: 0, problems: [] };

describe.skipIf(skip)('core: crashes (SIGKILL) during publish and unpublish', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let config: Omit<WorkerConfig, 'seed'>;
  let before: Map<string, TreeEntry>;
  let stopping = false;

  beforeAll(async () => {
    sandbox = await createSandbox();
    config = await threeSourceConfig(sandbox, 3);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    before = await fingerprint(sandbox.source);
  });

  afterEach(async () => {
    // A failing test must not hand its debris to the next one.
    await manager.reconcile().catch(() => {});
    for (const share of await manager.list()) for (const p of share.publications) await manager.unpublish(p.target).catch(() => {});
    await unmountEverythingUnder(sandbox.pods);
    await unmountEverythingUnder(sandbox.root);
  });

  afterAll(async () => {
    stopping = true; // a timed-out test's lanes must not start workers after cleanup
    await sandbox?.cleanup();
  });

  /** Reconciles and checks the report against the kernel: every repair it claims is true now. */
  async function reconcileAndCheck(): Promise<ReconcileReport> {
    const sharesBefore = await manager.list();
    const report = await manager.reconcile();
    expect(report.problems).toEqual([]);
    expect(report.sharesChecked).toBe(sharesBefore.length);
    const top = topMounts(await readMountInfo());
    const shares = await manager.list();
    // A target can have a stale reference in one share while it is published from another (a
    // killed publish, then a different one that won): compare (share, target) pairs.
    const pairs = new Set(shares.flatMap((s) => s.publications.map((p) => `${s.key} ${p.target}`)));
    for (const { share, target } of report.droppedReferences) expect(pairs.has(`${share} ${target}`)).toBe(false);
    for (const { share, target } of report.adoptedPublications) expect(pairs.has(`${share} ${target}`)).toBe(true);
    for (const key of report.unmountedShares) expect(shares.find((s) => s.key === key)?.mounted ?? false).toBe(false);
    for (const { target } of report.repairedReadOnly) expect(top.get(target)?.mountOptions).toContain('ro');
    await assertInvariants(manager, { pods: sandbox.pods });
    expect(await manager.reconcile()).toMatchObject(emptyReport); // nothing left to repair
    return report;
  }

  it('200 SIGKILLs at random points, then reconcile: invariants hold, no source file touched', async () => {
    const lanes = 4;
    const killsPerLane = 50;
    const outcomes: string[] = [];
    await Promise.all(
      Array.from({ length: lanes }, async (_, lane) => {
        for (let i = 0; i < killsPerLane && !stopping; i++) {
          const worker = startWorker(sandbox, { ...config, ops: 'forever', seed: lane * 1000 + i });
          await worker.ready;
          await sleep(Math.floor(Math.random() * 41));
          worker.child.kill('SIGKILL');
          const result = await worker.done;
          // Killed, never finished by itself: a worker that exits on its own met an error it must not get.
          if (result.signal !== 'SIGKILL') outcomes.push(`lane ${lane} run ${i}: exited ${result.code}: ${result.stderr}`);
        }
      }),
    );
    expect(outcomes).toEqual([]);

    const report = await reconcileAndCheck();
    console.info(`after 200 kills, reconcile repaired: ${JSON.stringify({ ...report, problems: undefined })}`);
    expect(changedOrRemoved(before, await fingerprint(sandbox.source))).toEqual([]);

    for (const share of await manager.list()) for (const p of share.publications) await manager.unpublish(p.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
  }, 300_000); // 200 worker starts: on a loaded 2-core machine that alone nears vitest's 120 s default

  type Point = { op: 'publish' | 'unpublish'; at: 'share' | 'publication'; when: 'before' | 'after' };
  const cases: Array<Point & { others: boolean; violations: RegExp[]; repaired: Partial<Record<keyof ReconcileReport, unknown>> }> = [
    // publish claims the target's index entry, mounts the share, then records the reference
    // (with the opened directory's inode) before the publication
    { op: 'publish', at: 'share', when: 'before', others: false, violations: [/share directory left with neither mount nor reference/, /index has 1 entries .* but only 0 references/], repaired: { droppedIndexEntries: 1 } },
    { op: 'publish', at: 'share', when: 'after', others: false, violations: [/share mounted with no reference/, /index has 1 entries .* but only 0 references/], repaired: { unmountedShares: ['KEY'], droppedIndexEntries: 1 } },
    { op: 'publish', at: 'publication', when: 'before', others: false, violations: [/reference without its bind mount/], repaired: { droppedReferences: ['T'], unmountedShares: ['KEY'] } },
    { op: 'publish', at: 'publication', when: 'before', others: true, violations: [/reference without its bind mount/], repaired: { droppedReferences: ['T'] } },
    { op: 'publish', at: 'publication', when: 'after', others: false, violations: [], repaired: {} },
    { op: 'unpublish', at: 'publication', when: 'before', others: false, violations: [], repaired: {} },
    { op: 'unpublish', at: 'publication', when: 'after', others: false, violations: [/reference without its bind mount/], repaired: { droppedReferences: ['T'], unmountedShares: ['KEY'] } },
    { op: 'unpublish', at: 'publication', when: 'after', others: true, violations: [/reference without its bind mount/], repaired: { droppedReferences: ['T'] } },
    { op: 'unpublish', at: 'share', when: 'before', others: false, violations: [/share mounted with no reference/], repaired: { unmountedShares: ['KEY'] } },
    { op: 'unpublish', at: 'share', when: 'after', others: false, violations: [/share directory left/], repaired: {} },
  ];

  it.each(cases)('killed $when the $at $op (other publications: $others) -> reconcile repairs it', async ({ op, at, when, others, violations: expectedViolations, repaired }) => {
    const crash = await writeCrashWrappers(sandbox.dir);
    const request = usualRequest(config, 0); // pod-0: bind, read-only, source a
    const key = await manager.shareKeyOf({ source: request.source, options: request.options });
    const sharePath = join(await manager.root(), key, 'mnt');
    const other = { ...usualRequest(config, 3), target: join(sandbox.pods, 'other') }; // same share
    if (others) await manager.publish(other);
    if (op === 'unpublish') await manager.publish(request);

    const crashTarget = at === 'share' ? sharePath : request.target;
    const single: WorkerConfig['single'] = op === 'publish' ? { kind: 'publish', request } : { kind: 'unpublish', target: request.target };
    const worker = startWorker(sandbox, { ...config, seed: 0, single }, crash.env(crashTarget, when));
    const result = await worker.done;
    expect(result.signal, `the worker was meant to die at the crash point: ${result.stdout} ${result.stderr}`).toBe('SIGKILL');

    const violations = await invariantViolations(manager, { pods: sandbox.pods });
    expect(violations).toEqual(expectedViolations.map((pattern) => expect.stringMatching(pattern)));

    const report = await reconcileAndCheck();
    const expected = { ...emptyReport, ...Object.fromEntries(Object.entries(repaired).map(([field, values]) => [field, Array.isArray(values) ? values.map((v) => (v === 'KEY' ? key : v)) : values])) };
    expect({
      ...report,
      droppedReferences: report.droppedReferences.map((d) => (d.target === request.target ? 'T' : d.target)),
      sharesChecked: undefined,
    }).toEqual({ ...expected, sharesChecked: undefined });

    // The state is usable again: the interrupted operation can be repeated and completed.
    if (op === 'publish') {
      await manager.publish(request);
      expect(await manager.unpublish(request.target)).toEqual({ unpublished: true, shareUnmounted: !others });
    } else {
      // Killed before the publication was unmounted, the unpublish is still to do; killed later, it is done.
      const stillPublished = at === 'publication' && when === 'before';
      expect(await manager.unpublish(request.target)).toEqual({ unpublished: stillPublished, shareUnmounted: stillPublished && !others });
    }
    if (others) await manager.unpublish(other.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
    expect(changedOrRemoved(before, await fingerprint(sandbox.source))).toEqual([]);
  });

  // A normal exit is not SIGKILL: Node runs its exit handlers, and execa's used to kill the
  // commands still running, util-linux between a read-only bind and its ro remount included.
  it.each([
    ['SIGTERM', 'TERM', 'SIGTERM'],
    ['process.exit (as at a FlexVolume deadline or a fatal error)', 'USR2', null],
  ] as const)('a %s while mount(8) of a read-only publication runs never kills it: it finishes, holding the lock, and nothing needs repair', async (_, signal, expectedSignal) => {
    const crash = await writeCrashWrappers(sandbox.dir);
    const request = usualRequest(config, 0); // pod-0: bind, read-only, source a
    const done = join(sandbox.dir, `mount-done-${signal}`);
    const worker = startWorker(sandbox, { ...config, seed: 0, single: { kind: 'publish', request } }, crash.env(request.target, 'split', done, signal));
    const result = await worker.done;
    expect(result.signal, `the worker was meant to stop at the crash point: ${result.stdout} ${result.stderr}`).toBe(expectedSignal);
    expect(result.stdout).not.toContain('"ok"'); // it stopped before its publish answered

    // The orphaned mount(8) still holds the share's lock: a reconcile waits for it rather than
    // dropping a reference whose bind mount is about to appear.
    const report = await manager.reconcile();
    expect(existsSync(done)).toBe(true);
    expect(report.droppedReferences).toEqual([]);
    expect(report.repairedReadOnly).toEqual([]);
    expect(topMounts(await readMountInfo()).get(request.target)?.mountOptions).toContain('ro');
    await reconcileAndCheck();
    expect(await manager.unpublish(request.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it.each(['share', 'publication'] as const)('killed while mount(8) of the %s is still running: an immediate reconcile does no harm', async (at) => {
    const crash = await writeCrashWrappers(sandbox.dir);
    const request = usualRequest(config, 1); // pod-1: bind, writable, source b
    const key = await manager.shareKeyOf({ source: request.source, options: request.options });
    const done = join(sandbox.dir, `mount-done-${at}`);
    const crashTarget = at === 'share' ? join(await manager.root(), key, 'mnt') : request.target;
    const worker = startWorker(sandbox, { ...config, seed: 0, single: { kind: 'publish', request } }, crash.env(crashTarget, 'during', done));
    expect((await worker.done).signal).toBe('SIGKILL');

    // The worker is dead and its mount(8) has not run yet: reconcile must neither fail nor break it.
    await manager.reconcile();
    for (let i = 0; i < 400 && !existsSync(done); i++) await sleep(25); // the orphaned mount(8) finishes
    expect(existsSync(done)).toBe(true);
    await reconcileAndCheck();

    await manager.publish(request);
    expect(await manager.unpublish(request.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
  });
});
