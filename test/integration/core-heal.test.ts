/**
 * Shares that heal (docs/healing.md), with real broken mounts: a bindfs (FUSE) source whose
 * daemon is killed is broken (ENOTCONN); once a daemon serves the source again, the next
 * publish, a reconcile() of another process, or a heal killed at any point and finished by a
 * later reconcile, mounts the share again and makes every publication show the live source.
 * A hung share (daemon stopped) is never healed, and other shares keep working meanwhile.
 */
import { access, constants, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager, type Publication } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { readMountInfo, topMounts } from '../../src/mountinfo.js';
import type { ReconcileReport } from '../../src/reconcile.js';
import type { Source } from '../../src/backend.js';
import { exited } from '../helpers/processes.js';
import { assertInvariants } from '../helpers/invariants.js';
import { bindfsAvailable, clearAfterBindfsTest, probe, startBindfs, type BindfsMount } from '../helpers/bindfs.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import { runWorker, startWorker } from '../helpers/workers.js';
import { random } from '../helpers/operations.js';
import { estaleFuseAvailable, startEstaleFuse } from '../helpers/estale-fuse.js';

const skip = skipUnlessReady([
  { what: 'bindfs and /dev/fuse (apt-get install bindfs fuse3)', ok: bindfsAvailable },
  { what: 'gcc and the kernel headers, for the ESTALE FUSE daemon (apt-get install gcc libc6-dev)', ok: estaleFuseAvailable },
]);
const timeouts = { fsMs: 2000, commandMs: 10_000 };
const subdirs = 10;

describe.skipIf(skip)('core: broken shares heal (bindfs)', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  const daemons: BindfsMount[] = [];
  const bind = (path: string) => ({ backend: 'bind', path }) as Source;
  const backing = () => join(sandbox.dir, 'backing');
  const fusePoint = () => join(sandbox.dir, 'fuse');
  const rootMounts = async () => [...(await mountsUnder(sandbox.root)), ...(await mountsUnder(sandbox.pods))];

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-heal-');
    await mkdir(backing());
    await seedSourceTree(backing(), subdirs);
    await seedSourceTree(sandbox.source, 2);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })], timeouts });
  });

  afterEach(async () => {
    await clearAfterBindfsTest(manager, sandbox, daemons.splice(0));
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  async function serveSource(): Promise<BindfsMount> {
    const daemon = await startBindfs(sandbox, backing(), fusePoint());
    daemons.push(daemon);
    return daemon;
  }

  /** Kills the FUSE daemon (its mount and every bind of it answer ENOTCONN), then serves the source again with a new one. */
  async function breakAndRestart(daemon: BindfsMount): Promise<BindfsMount> {
    daemon.daemon.kill('SIGKILL');
    await exited(daemon.daemon);
    daemons.splice(daemons.indexOf(daemon), 1);
    await execa('umount', ['--lazy', '--no-canonicalize', '--', fusePoint()]);
    return serveSource();
  }

  /** `count` publications of the FUSE source (every fifth read-only) and `staging` staging paths, as CSI's NodeStageVolume makes them. */
  async function publishMany(count: number, staging: number): Promise<Publication[]> {
    const made: Publication[] = [];
    for (let i = 0; i < count; i++) {
      const subPath = `d${String(i % subdirs).padStart(3, '0')}`;
      made.push(await manager.publish({ source: bind(fusePoint()), subPath, readOnly: i % 5 === 0, target: join(sandbox.pods, `pod-${i}`) }));
    }
    for (let i = 0; i < staging; i++) {
      made.push(await manager.publish({ source: bind(fusePoint()), subPath: `d00${i}`, target: join(sandbox.pods, `staging-${i}`), label: `volume-${i}` }));
    }
    return made;
  }

  /** Every publication is mounted once, shows the live source (a file written through it just now), and keeps its read-only state. */
  async function expectLive(publications: readonly Publication[], tag: string): Promise<void> {
    for (let i = 0; i < subdirs; i++) await writeFile(join(backing(), `d${String(i).padStart(3, '0')}`, `${tag}.txt`), `${tag} ${i}\n`);
    const entries = await readMountInfo();
    const top = topMounts(entries);
    for (const publication of publications) {
      expect(entries.filter((e) => e.mountPoint === publication.target)).toHaveLength(1);
      const seen = await readFile(join(publication.target, `${tag}.txt`), 'utf8');
      expect(seen).toBe(`${tag} ${Number(publication.subPath.slice(1))}\n`);
      expect(top.get(publication.target)!.mountOptions.includes('ro')).toBe(publication.readOnly);
      const writable = await access(publication.target, constants.W_OK).then(() => true, () => false);
      expect(writable).toBe(!publication.readOnly);
    }
  }

  const publicationsNow = async () => (await manager.list()).flatMap((share) => share.publications).sort((a, b) => a.target.localeCompare(b.target));
  const byTarget = (list: readonly Publication[]) => [...list].sort((a, b) => a.target.localeCompare(b.target));

  async function unpublishAllAndCheckClean(publications: readonly Publication[]): Promise<void> {
    for (const publication of publications) await manager.unpublish(publication.target);
    expect(await rootMounts()).toEqual([]);
    expect(await manager.list()).toEqual([]);
    expect(await readdir(join(sandbox.root, '_heal')).catch(() => [])).toEqual([]);
  }

  /**
   * The source served again (bindfs over the same tree, as a server back on its export): a new
   * publication of `subPath` heals the share, every publication shows the live source, and all
   * of them go cleanly.
   */
  async function servedAgainThenHealedByAPublish(publications: readonly Publication[], subPath: string, tag: string): Promise<void> {
    await execa('umount', ['--lazy', '--no-canonicalize', '--', fusePoint()]);
    await serveSource();
    const added = await manager.publish({ source: bind(fusePoint()), subPath, target: join(sandbox.pods, 'new-pod') });
    await expectLive([...publications, added], tag);
    await assertInvariants(manager, { pods: sandbox.pods });
    await unpublishAllAndCheckClean([...publications, added]);
  }

  it('the next publish heals a share whose FUSE daemon was killed: 50 publications and 3 staging paths show the live source again, references unchanged', async () => {
    const daemon = await serveSource();
    const publications = await publishMany(50, 3);
    expect(new Set(publications.map((p) => p.shareKey)).size).toBe(1);
    await expectLive(publications, 'before');
    const before = await publicationsNow();

    await breakAndRestart(daemon);
    expect((await probe(join(publications[1]!.target, 'data.txt'))).stderr).toMatch(/Transport endpoint is not connected/);

    const added = await manager.publish({ source: bind(fusePoint()), subPath: 'd001', target: join(sandbox.pods, 'new-pod') });
    expect(added.shareKey).toBe(publications[0]!.shareKey);
    await expectLive([...publications, added], 'after-publish');
    expect(await publicationsNow()).toEqual(byTarget([...before, added]));
    await assertInvariants(manager, { pods: sandbox.pods });
    expect(await manager.reconcile()).toMatchObject({ healedShares: [], droppedReferences: [], problems: [] });
    await unpublishAllAndCheckClean([...publications, added]);
  });

  it('reconcile() from another process heals it, and says what it healed; a publication whose pod is gone is dropped', async () => {
    const daemon = await serveSource();
    const publications = await publishMany(50, 3);
    const before = await publicationsNow();
    await breakAndRestart(daemon);
    // One pod went while the share was broken, its directory removed behind sharemount's back.
    const gone = publications[7]!;
    await execa('umount', ['--lazy', '--', gone.target]);
    await execa('rmdir', ['--', gone.target]);

    const outcome = await runWorker<{ ok: boolean; result: ReconcileReport }>(sandbox, { root: sandbox.root, sources: [], subdirs: [], targets: [], seed: 1, single: { kind: 'reconcile' }, timeouts });
    expect(outcome.ok).toBe(true);
    const kept = publications.filter((p) => p !== gone);
    expect(outcome.result.healedShares).toEqual([{ share: gone.shareKey, republished: kept.map((p) => p.target).sort() }]);
    expect(outcome.result.droppedReferences).toEqual([{ share: gone.shareKey, target: gone.target, reason: expect.stringMatching(/target gone/) }]);
    expect(outcome.result.problems).toEqual([]);
    await expectLive(kept, 'after-reconcile');
    expect(await publicationsNow()).toEqual(before.filter((p) => p.target !== gone.target));
    await assertInvariants(manager, { pods: sandbox.pods });
    await unpublishAllAndCheckClean(kept);
  });

  it('a share whose root answers ESTALE (a FUSE daemon of our own, as an NFS mount after a server lost its handles) heals the same way', async () => {
    const estale = await startEstaleFuse(sandbox, fusePoint(), subdirs);
    const publications: Publication[] = [];
    for (let i = 0; i < 8; i++) {
      publications.push(await manager.publish({ source: bind(fusePoint()), subPath: `d00${i % 4}`, readOnly: i % 3 === 0, target: join(sandbox.pods, `pod-${i}`) }));
    }
    estale.goStale();
    expect((await probe(publications[1]!.target)).stderr).toMatch(/Stale file handle/);
    expect((await probe(publications[0]!.sharePath)).stderr).toMatch(/Stale file handle/);
    await servedAgainThenHealedByAPublish(publications, 'd003', 'after-estale');
    // Its last mount gone, the ESTALE daemon ends by itself.
    expect(await exited(estale.daemon)).toMatchObject({ code: 0 });
  });

  it('a hung share (daemon stopped) is never healed, and other shares keep working meanwhile', async () => {
    const daemon = await serveSource();
    const publications = await publishMany(4, 0);
    const healthy = await manager.publish({ source: bind(sandbox.source), subPath: 'd000', target: join(sandbox.pods, 'healthy') });
    const shareMountBefore = (await mountsUnder(sandbox.root)).find((m) => m.mountPoint === publications[0]!.sharePath)!;
    process.kill(daemon.pid, 'SIGSTOP');
    try {
      await mkdir(join(backing(), 'fresh'));
      expect((await probe(join(fusePoint(), 'fresh'), 1500)).hung).toBe(true);
      const [refused, other] = await Promise.all([
        manager.publish({ source: bind(fusePoint()), subPath: 'fresh', target: join(sandbox.pods, 'hung-new') }).catch((e: unknown) => e),
        (async () => {
          for (let i = 0; i < 3; i++) await manager.unpublish((await manager.publish({ source: bind(sandbox.source), subPath: 'd001', target: join(sandbox.pods, `meanwhile-${i}`) })).target);
          return 'done';
        })(),
      ]);
      expect(other).toBe('done');
      expect(refused).toMatchObject({ code: 'TIMEOUT' });
      const report = await manager.reconcile();
      expect(report.healedShares).toEqual([]);
      // The hung share's mount and its publications are exactly as they were.
      const now = await mountsUnder(sandbox.root);
      expect(now.find((m) => m.mountPoint === publications[0]!.sharePath)?.id).toBe(shareMountBefore.id);
      const pods = (await mountsUnder(sandbox.pods)).map((m) => m.mountPoint).sort();
      expect(pods).toEqual([...publications.map((p) => p.target), healthy.target].sort());
      expect(await readdir(join(sandbox.root, '_heal')).catch(() => [])).toEqual([]);
    } finally {
      process.kill(daemon.pid, 'SIGCONT');
    }
    await unpublishAllAndCheckClean([...publications, healthy]);
  });

  it('a hung share costs once: calls queued behind the first, and calls of other processes, fail at once naming it, until a background probe sees it answer', async () => {
    const daemon = await serveSource();
    const publications = await publishMany(2, 0);
    const key = publications[0]!.shareKey;
    process.kill(daemon.pid, 'SIGSTOP');
    try {
      await mkdir(join(backing(), 'fresh-queue'));
      const queued = await Promise.all(
        Array.from({ length: 5 }, (_, i) => manager.publish({ source: bind(fusePoint()), subPath: 'fresh-queue', target: join(sandbox.pods, `queued-${i}`) }).then(() => new Error('published'), (e: unknown) => e as Error)),
      );
      for (const error of queued) expect(error).toMatchObject({ code: 'TIMEOUT' });
      const paid = queued.filter((error) => !error.message.includes('fail at once'));
      expect(paid).toHaveLength(1); // only the first waited out the bound
      for (const error of queued.filter((e) => !paid.includes(e))) expect(error.message).toContain(`the share ${key} is hung`);
      const other = await runWorker<{ ok: boolean; code: string; message: string }>(sandbox, {
        root: sandbox.root,
        sources: [],
        subdirs: [],
        targets: [],
        seed: 1,
        timeouts,
        single: { kind: 'publish', request: { source: bind(fusePoint()), subPath: 'd001', target: join(sandbox.pods, 'other-process') } },
      });
      expect(other).toMatchObject({ ok: false, code: 'TIMEOUT', message: expect.stringContaining(`the share ${key} is hung`) });
    } finally {
      process.kill(daemon.pid, 'SIGCONT');
    }
    // The probe started with the mark sees the share answer and clears it: publishing works again.
    let again: Publication | Error | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      again = await manager.publish({ source: bind(fusePoint()), subPath: 'd001', target: join(sandbox.pods, 'after-hang') }).catch((e: unknown) => e as Error);
      if (!(again instanceof Error)) break;
      expect(again.message).toContain('is hung');
      await sleep(100);
    }
    expect(again).toMatchObject({ target: join(sandbox.pods, 'after-hang') });
    await unpublishAllAndCheckClean([...publications, again as Publication]);
  });

  it('a source that still does not answer leaves the share and its publications as they were; a later publish heals it', async () => {
    const daemon = await serveSource();
    const publications = await publishMany(6, 1);
    daemon.daemon.kill('SIGKILL');
    await exited(daemon.daemon);
    daemons.splice(daemons.indexOf(daemon), 1);
    const before = (await rootMounts()).map((m) => `${m.id} ${m.mountPoint}`);
    // Nothing serves the source: mounting it again gives another dead mount.
    const refused = await manager.publish({ source: bind(fusePoint()), subPath: 'd001', target: join(sandbox.pods, 'new-pod') }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'BROKEN_MOUNT', message: expect.stringMatching(/could not be mounted again/) });
    expect((await rootMounts()).map((m) => `${m.id} ${m.mountPoint}`)).toEqual(before);
    expect(await readdir(join(sandbox.root, '_heal')).catch(() => [])).toEqual([]);

    await servedAgainThenHealedByAPublish(publications, 'd001', 'later');
  });

  it('kill -9 of a heal at random points: after a fresh reconcile every reference has exactly one live publication and nothing is mounted without one', async () => {
    let daemon = await serveSource();
    const publications = await publishMany(30, 2);
    const before = await publicationsNow();
    const next = random(18);
    const trials = 12;
    for (let trial = 0; trial < trials; trial++) {
      daemon = await breakAndRestart(daemon);
      // Another process heals (its publish of a new pod); it is killed somewhere along the way.
      const target = join(sandbox.pods, `killed-${trial}`);
      const worker = startWorker(sandbox, {
        root: sandbox.root,
        sources: [],
        subdirs: [],
        targets: [],
        seed: trial,
        timeouts,
        single: { kind: 'publish', request: { source: bind(fusePoint()), subPath: 'd002', target } },
      });
      await worker.ready;
      await sleep(Math.floor(next() * 1200));
      worker.child.kill('SIGKILL');
      await worker.done;

      const fresh = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })], timeouts });
      const report = await fresh.reconcile();
      expect(report.problems).toEqual([]);
      await assertInvariants(fresh, { pods: sandbox.pods });
      // The killed publish's own pod may or may not have made it; every other reference is kept, and live.
      const now = (await publicationsNow()).filter((p) => p.target !== target);
      expect(now).toEqual(before);
      await expectLive(now, `trial-${trial}`);
      await manager.unpublish(target);
    }
    await unpublishAllAndCheckClean(publications);
  });
});
