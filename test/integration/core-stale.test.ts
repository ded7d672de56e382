/**
 * Invariant 8 with real broken mounts: a bindfs (FUSE) source whose daemon is killed is stale
 * (ENOTCONN), one whose daemon is stopped hangs. Unpublish and the share's final unmount still
 * succeed on both; publish on a hung share fails with TIMEOUT at the configured bound while
 * other shares keep working. Hung paths are only ever probed from child processes here.
 */
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { SharemountError } from '../../src/errors.js';
import { exited } from '../helpers/processes.js';
import { assertInvariants } from '../helpers/invariants.js';
import { bindfsAvailable, clearAfterBindfsTest, probe, startBindfs, type BindfsMount } from '../helpers/bindfs.js';
import { createSandbox, entriesOf, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';
import type { Source } from '../../src/backend.js';

const skip = skipUnlessReady([{ what: 'bindfs and /dev/fuse (apt-get install bindfs fuse3)', ok: bindfsAvailable }]);
const timeouts = { fsMs: 1000, commandMs: 2000 };

/** Fails (instead of hanging the suite) when `work` does not settle; a hang detector, not a timing assertion. */
async function settles<T>(work: Promise<T>, what: string, limitMs = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${limitMs} ms: it hung`)), limitMs);
  });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(skip)('core: stale and hung shares (bindfs)', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let fuse: BindfsMount | undefined;
  const bind = (path: string) => ({ backend: 'bind', path }) as Source;
  const rootMounts = async () => [...(await mountsUnder(sandbox.root)), ...(await mountsUnder(sandbox.pods))];

  beforeAll(async () => {
    sandbox = await createSandbox();
    await seedSourceTree(sandbox.source, 4);
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })], timeouts });
  });

  afterEach(async () => {
    await clearAfterBindfsTest(manager, sandbox, fuse ? [fuse] : []);
    fuse = undefined;
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  async function fuseSource(name: string): Promise<BindfsMount> {
    const backing = join(sandbox.dir, `${name}-backing`);
    await mkdir(backing);
    await seedSourceTree(backing, 4);
    fuse = await startBindfs(sandbox, backing, join(sandbox.dir, name));
    return fuse;
  }

  it('a share whose FUSE daemon was killed (ENOTCONN): publish is refused, unpublish and the final unmount succeed', async () => {
    const stale = await fuseSource('dead');
    const publications = [];
    for (const [i, subPath] of ['d000', 'd001', 'd002'].entries()) {
      publications.push(await manager.publish({ source: bind(stale.mountPoint), subPath, readOnly: i === 0, target: join(sandbox.pods, `dead-${i}`) }));
    }
    expect(new Set(publications.map((p) => p.shareKey)).size).toBe(1);
    await assertInvariants(manager, { pods: sandbox.pods });

    stale.daemon.kill('SIGKILL');
    await exited(stale.daemon);
    for (const path of [join(publications[1]!.target, 'data.txt'), join(publications[0]!.sharePath, 'top.bin')]) {
      const seen = await probe(path);
      expect(seen.hung).toBe(false);
      expect(seen.stderr).toMatch(/Transport endpoint is not connected/);
    }

    // A sub-path the kernel must ask the dead daemon about.
    const refused = await settles(
      manager.publish({ source: bind(stale.mountPoint), subPath: 'd003', target: join(sandbox.pods, 'dead-new') }).catch((e: unknown) => e),
      'publish on a stale share',
    );
    expect(refused).toBeInstanceOf(SharemountError);
    expect(refused).toMatchObject({ code: 'BROKEN_MOUNT' });
    expect((await mountsUnder(sandbox.pods)).map((m) => m.mountPoint)).not.toContain(join(sandbox.pods, 'dead-new'));

    for (const [i, publication] of publications.entries()) {
      const result = await settles(manager.unpublish(publication.target), `unpublish ${publication.target}`);
      expect(result).toEqual({ unpublished: true, shareUnmounted: i === publications.length - 1 });
    }
    expect(await rootMounts()).toEqual([]);
    expect(await manager.list()).toEqual([]);
    expect(await entriesOf(sandbox.pods)).toEqual([]);
  });

  // The sub-path's dentry is still cached (it is the source of another publication), so only a
  // question to the filesystem itself (statfs) can tell that the share is dead.
  it('publish on a stale share whose sub-path is cached is refused with BROKEN_MOUNT', async () => {
    const stale = await fuseSource('dead-cached');
    await manager.publish({ source: bind(stale.mountPoint), subPath: 'd000', target: join(sandbox.pods, 'cached-0') });
    stale.daemon.kill('SIGKILL');
    await exited(stale.daemon);
    const outcome = await settles(
      manager.publish({ source: bind(stale.mountPoint), subPath: 'd000', target: join(sandbox.pods, 'cached-1') }).catch((e: unknown) => e),
      'publish on a stale share',
    );
    expect(outcome).toMatchObject({ code: 'BROKEN_MOUNT' });
  });

  it('a repeat publish on a stale share is refused with BROKEN_MOUNT and keeps the reference of the publication it repeats', async () => {
    const stale = await fuseSource('dead-repeat');
    const request = { source: bind(stale.mountPoint), subPath: 'd000', target: join(sandbox.pods, 'repeat-0') };
    const publication = await manager.publish(request);
    stale.daemon.kill('SIGKILL');
    await exited(stale.daemon);
    // FUSE answers from its attribute cache (1 s by default) until it expires, its daemon gone or not.
    await expect.poll(() => stat(stale.mountPoint).then(() => 'answered', (error: NodeJS.ErrnoException) => error.code), { timeout: 10_000 }).toBe('ENOTCONN');
    const outcome = await settles(manager.publish(request).catch((e: unknown) => e), 'repeat publish on a stale share');
    expect(outcome).toMatchObject({ code: 'BROKEN_MOUNT' });
    expect((await manager.list()).flatMap((share) => share.publications)).toEqual([publication]);
    expect(await settles(manager.unpublish(publication.target), 'unpublish')).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await rootMounts()).toEqual([]);
  });

  it('a hung share (FUSE daemon stopped): publish fails with TIMEOUT at the bound, other shares keep working, unpublish succeeds', async () => {
    const hung = await fuseSource('hung');
    const hungPublications = [
      await manager.publish({ source: bind(hung.mountPoint), subPath: 'd000', target: join(sandbox.pods, 'hung-0') }),
      await manager.publish({ source: bind(hung.mountPoint), subPath: 'd001', readOnly: true, target: join(sandbox.pods, 'hung-1') }),
    ];
    const healthy = await manager.publish({ source: bind(sandbox.source), subPath: 'd000', target: join(sandbox.pods, 'healthy') });

    process.kill(hung.pid, 'SIGSTOP');
    // A name the kernel has never looked up through FUSE: its lookup must reach the stopped daemon.
    await mkdir(join(sandbox.dir, 'hung-backing', 'fresh'));
    await writeFile(join(sandbox.dir, 'hung-backing', 'fresh', 'x'), '');
    expect((await probe(join(hung.mountPoint, 'fresh'), 2000)).hung).toBe(true);

    const hungPublish = settles(
      manager.publish({ source: bind(hung.mountPoint), subPath: 'fresh', target: join(sandbox.pods, 'hung-new') }).catch((e: unknown) => e),
      'publish on a hung share',
    );
    // Meanwhile, another share works: publish and unpublish, several times.
    const otherShare = (async () => {
      for (let i = 0; i < 5; i++) {
        const publication = await manager.publish({ source: bind(sandbox.source), subPath: `d00${i % 4}`, target: join(sandbox.pods, `meanwhile-${i}`) });
        await manager.unpublish(publication.target);
      }
      return 'done';
    })();
    const [error, other] = await Promise.all([hungPublish, otherShare]);
    expect(other).toBe('done');
    expect(error).toBeInstanceOf(SharemountError);
    expect(error).toMatchObject({ code: 'TIMEOUT' });
    expect((error as Error).message).toMatch(new RegExp(`${timeouts.fsMs} ms|${timeouts.commandMs} ms|not answering`));

    // Once known to hang, the share is refused again (probed from a child, not in-process).
    const again = await settles(
      manager.publish({ source: bind(hung.mountPoint), subPath: 'd002', target: join(sandbox.pods, 'hung-again') }).catch((e: unknown) => e),
      'second publish on a hung share',
    );
    expect(again).toMatchObject({ code: 'TIMEOUT' });
    // Asked again for what is published on it (kubelet retries, a CSI plugin's republish), more
    // times than libuv has threads: each answers TIMEOUT, and none leaves a thread stuck in the
    // share, so another share still works afterwards.
    for (let round = 0; round < 3; round++) {
      for (const publication of hungPublications) {
        const request = { source: bind(hung.mountPoint), subPath: publication.subPath, readOnly: publication.readOnly, target: publication.target };
        expect(await settles(manager.publish(request).catch((e: unknown) => e), 'a repeat publish on a hung share')).toMatchObject({ code: 'TIMEOUT' });
      }
    }
    const afterwards = await settles(manager.publish({ source: bind(sandbox.source), subPath: 'd001', target: join(sandbox.pods, 'afterwards') }), 'a publish of another share');
    expect(await settles(manager.unpublish(afterwards.target), 'its unpublish')).toMatchObject({ unpublished: true });
    // The failed publishes left nothing: no mount at their targets, no reference.
    const pods = (await mountsUnder(sandbox.pods)).map((m) => m.mountPoint).sort();
    expect(pods).toEqual([...hungPublications.map((p) => p.target), healthy.target].sort());

    for (const [i, publication] of hungPublications.entries()) {
      const result = await settles(manager.unpublish(publication.target), `unpublish ${publication.target}`);
      expect(result).toEqual({ unpublished: true, shareUnmounted: i === hungPublications.length - 1 });
    }
    expect((await manager.list()).map((share) => share.key)).toEqual([healthy.shareKey]);
    expect((await rootMounts()).map((m) => m.mountPoint).sort()).toEqual([healthy.sharePath, healthy.target].sort());
    await assertInvariants(manager, { pods: sandbox.pods });

    process.kill(hung.pid, 'SIGCONT');
    expect(await manager.unpublish(healthy.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await rootMounts()).toEqual([]);
  });

  it('a publication whose directory was renamed, on a share that hangs: reconcile keeps its reference and says so, and knows it again once the share answers', async () => {
    const hung = await fuseSource('hung-renamed');
    await mkdir(join(sandbox.dir, 'hung-renamed-backing', 'outer', 'inner'), { recursive: true });
    const outer = await manager.publish({ source: bind(hung.mountPoint), subPath: 'outer', target: join(sandbox.pods, 'outer') });
    const inner = await manager.publish({ source: bind(hung.mountPoint), subPath: 'outer/inner', target: join(sandbox.pods, 'inner') });
    await rename(join(outer.target, 'inner'), join(outer.target, 'renamed'));
    expect(await manager.reconcile()).toMatchObject({ droppedReferences: [], problems: [] });

    process.kill(hung.pid, 'SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // past bindfs's attribute cache: a stat now asks the daemon
    for (const round of ['first', 'known to hang']) {
      const report = await settles(manager.reconcile(), `reconcile, ${round}`);
      expect(report.droppedReferences).toEqual([]);
      expect(report.problems).toEqual([{ share: inner.shareKey, message: expect.stringMatching(/could not be checked in time.*reference is kept/) }]);
    }
    process.kill(hung.pid, 'SIGCONT');
    // The share stays marked hung (its calls fail at once) until the background probe sees it
    // answer, a moment after it does: then reconcile knows the publication again.
    let report = await manager.reconcile();
    for (let attempt = 0; attempt < 100 && report.problems.length > 0; attempt++) {
      expect(report.droppedReferences).toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      report = await manager.reconcile();
    }
    expect(report).toMatchObject({ droppedReferences: [], problems: [] });
    expect(await manager.unpublish(outer.target)).toEqual({ unpublished: true, shareUnmounted: false });
    expect(await manager.unpublish(inner.target)).toEqual({ unpublished: true, shareUnmounted: true });
    expect(await rootMounts()).toEqual([]);
  });
});
