/**
 * Where the time of one publish and unpublish goes: replays MountManager's steps one by one
 * (the same functions from src/, while the share is already mounted) and times each, next to the
 * real `publish`/`unpublish` for comparison. The real publish overlaps some of them (the target's
 * and the share's checks run side by side in libuv's threads), so the sum of the steps is more
 * than it costs.
 * A diagnostic for when a core target is not met; not a section of docs/benchmarks.md.
 * Run as root in a private mount namespace:
 *   unshare -m --propagation private -- tsx bench/tools/publish-steps.ts [bind|symlink] [samples]
 */
import { mkdir, realpath, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bindBackend } from '../../src/backends/bind.js';
import { KeyedLock } from '../../src/lock.js';
import { silentLogger } from '../../src/logger.js';
import { MountManager } from '../../src/mount-manager.js';
import { identityOfFd, isMountPoint } from '../../src/mount-point.js';
import { mount } from '../../src/mount-command.js';
import { run } from '../../src/exec.js';
import { checkPublishRequest, type PublishRequest } from '../../src/publish-request.js';
import { loadRootKey } from '../../src/root-key.js';
import { shareKeyOf } from '../../src/share-key.js';
import { StateStore, type RefRecord } from '../../src/state.js';
import { strategies } from '../../src/strategies/index.js';
import { openInsideShare } from '../../src/subpath.js';
import { canonicalTarget, checkTargetShape, prepareTarget } from '../../src/target.js';
import { withTimeout } from '../../src/timeout.js';
import { ms, summarize, table } from '../lib.js';
import { createWorkspace } from '../core/workspace.js';

const strategyName = (process.argv[2] ?? 'symlink') as 'bind' | 'symlink';
const samples = Number(process.argv[3] ?? 300);
const warmup = Math.round(samples / 10);
const timeoutMs = 30_000;

const ws = await createWorkspace('publish-steps-');
try {
  const source = ws.path('source');
  await mkdir(join(source, 'vol'), { recursive: true });
  await mkdir(ws.path('targets'));
  const manager = new MountManager({ root: ws.path('root'), backends: [bindBackend({ allowedPaths: ['/'] })] });
  const share = { backend: 'bind', path: source };
  const anchor = ws.path('targets', 'anchor');
  await manager.publish({ source: share, subPath: 'vol', target: anchor });

  // The pieces of the manager's context, made the way it makes them.
  const root = await realpath(ws.path('root'));
  const identity = await stat(root);
  const state = new StateStore(root);
  const locks = new KeyedLock(`${identity.dev}:${identity.ino}`, 60_000);
  const secretKey = await loadRootKey(join(root, '_key'));
  const backends = new Map([['bind', bindBackend({ allowedPaths: ['/'] })]]);

  const steps = new Map<string, number[]>();
  const record = (name: string, value: number) => void (steps.get(name) ?? steps.set(name, []).get(name)!).push(value);
  let t = 0;
  const lap = (name: string, keep: boolean) => {
    const now = performance.now();
    if (keep) record(name, now - t);
    t = now;
  };

  const stepTarget = ws.path('targets', 'steps');
  const realTarget = ws.path('targets', 'real');
  if (strategyName === 'bind') for (const dir of [stepTarget, realTarget]) await mkdir(dir);
  const request = (target: string): PublishRequest => ({ source: share, subPath: 'vol', target, strategy: strategyName });

  for (let round = 0; round < warmup + samples; round++) {
    const keep = round >= warmup;
    // The real thing, for comparison.
    let start = performance.now();
    await manager.publish(request(realTarget));
    if (keep) record('= MountManager.publish', performance.now() - start);
    start = performance.now();
    await manager.unpublish(realTarget, { removeTarget: false });
    if (keep) record('= MountManager.unpublish', performance.now() - start);

    if (strategyName === 'bind') {
      // The bare spawned mount and umount, as bench/sections/core.ts compares them, in three
      // variants: a plain path, the /proc fd path the bind strategy mounts from, and the latter
      // with a lock held (its socket fds are passed to the child as publish does).
      const vol = join(source, 'vol');
      const handle = await openInsideShare(state.mountPoint(await manager.shareKeyOf({ source: share })), 'vol', { create: false, mode: 0o755 });
      try {
        for (const [name, from, locked] of [['plain path', vol, false], ['/proc fd path', handle.procPath, false], ['/proc fd path, 2 locks held', handle.procPath, true]] as const) {
          const once = async () => {
            let begin = performance.now();
            await mount({ bind: true, noCanonicalize: true, source: from, target: stepTarget }, timeoutMs);
            if (keep) record(`= bare mount --bind (${name})`, performance.now() - begin);
            begin = performance.now();
            await run('umount', ['--no-canonicalize', '--', stepTarget], { timeoutMs, env: { LC_ALL: 'C', LANG: 'C' } });
            if (keep) record(`= bare umount (${name})`, performance.now() - begin);
          };
          if (locked) await locks.withLock('bench:a', () => locks.withLock('bench:b', once));
          else await once();
        }
      } finally {
        await handle.close();
      }
    }

    // publish(), step by step.
    const publishStart = performance.now();
    t = publishStart;
    const checked = checkPublishRequest(request(stepTarget), backends, root);
    lap('publish: checkPublishRequest (zod)', keep);
    const key = shareKeyOf(checked.backend, checked.source, checked.options, checked.sensitiveOptions, secretKey);
    lap('publish: shareKeyOf', keep);
    const target = checkTargetShape(canonicalTarget(checked.target), root);
    lap('publish: canonicalTarget (realpath of the parent)', keep);
    await locks.withLock(`target:${target}`, async () => {
      lap('publish: target lock (abstract socket bind)', keep);
      await locks.withLock(`share:${key}`, async () => {
        lap('publish: share lock (abstract socket bind)', keep);
        const sharePath = state.mountPoint(key);
        const indexed = await state.readIndex(target);
        if (indexed !== undefined) throw new Error('unexpected index entry');
        lap('publish: readIndex', keep);
        if (checked.strategy === 'bind') await isMountPoint(target).catch(() => false);
        lap('publish: isMountPoint(target) (bind only)', keep);
        const mounted = await withTimeout(isMountPoint(sharePath), timeoutMs, 'checking the share');
        if (!mounted) throw new Error('the share should be mounted');
        lap('publish: isMountPoint(share) (ensureShareMounted)', keep);
        const directory = await withTimeout(openInsideShare(sharePath, checked.subPath, { create: false, mode: 0o755 }), timeoutMs, 'opening');
        lap('publish: openInsideShare', keep);
        try {
          const prepared = checked.strategy === 'bind' ? prepareTarget(target) : { created: false };
          lap('publish: prepareTarget (bind only)', keep);
          const directoryInode = identityOfFd(directory.fd).inode;
          lap('publish: identityOfFd (the directory for the reference, from fdinfo)', keep);
          const ref: RefRecord = { version: 1, target, subPath: checked.subPath, readOnly: false, strategy: checked.strategy, createdTarget: prepared.created, publishedAt: new Date().toISOString(), ...(directoryInode === undefined ? {} : { directoryInode }) };
          await state.writeRef(key, ref);
          lap('publish: state.writeRef', keep);
          await state.writeIndex(target, key);
          lap('publish: state.writeIndex (mkdir, symlink, rename)', keep);
          await strategies[checked.strategy].publish({ directory, sharePath, target, readOnly: false, shareFlags: [], timeoutMs });
          lap(`publish: ${checked.strategy} strategy publish`, keep);
        } finally {
          await directory.close();
          lap('publish: close the sub-path fd', keep);
        }
      });
      lap('publish: release share lock', keep);
    });
    lap('publish: release target lock', keep);
    if (keep) record('publish: sum of the steps', performance.now() - publishStart);

    // unpublish(), step by step.
    const unpublishStart = performance.now();
    t = unpublishStart;
    const canonical = checkTargetShape(canonicalTarget(checkTargetShape(stepTarget, root)), root);
    lap('unpublish: canonicalTarget', keep);
    await locks.withLock(`target:${canonical}`, async () => {
      lap('unpublish: target lock', keep);
      const key = await state.readIndex(canonical);
      if (key === undefined) throw new Error('index entry missing');
      lap('unpublish: readIndex', keep);
      await locks.withLock(`share:${key}`, async () => {
        lap('unpublish: share lock', keep);
        const ref = await state.readRef(key, canonical);
        if (!ref) throw new Error('reference missing');
        lap('unpublish: readRef (readFile + zod)', keep);
        await strategies[ref.strategy].unpublish({ target: canonical, sharePath: state.mountPoint(key), subPath: ref.subPath, removeTarget: false, timeoutMs, logger: silentLogger });
        lap(`unpublish: ${ref.strategy} strategy unpublish`, keep);
        await state.removeRef(key, canonical);
        lap('unpublish: removeRef', keep);
        await state.removeIndex(canonical);
        lap('unpublish: removeIndex', keep);
        const inUse = await state.hasRefs(key);
        if (!inUse) throw new Error('the anchor reference is missing');
        lap('unpublish: hasRefs (releaseIfUnused)', keep);
      });
      lap('unpublish: release share lock', keep);
    });
    lap('unpublish: release target lock', keep);
    if (keep) record('unpublish: sum of the steps', performance.now() - unpublishStart);
  }

  await manager.unpublish(anchor, { removeTarget: false });
  if (strategyName === 'bind') for (const dir of [stepTarget, realTarget]) await rmdir(dir);
  console.log(`${strategyName} strategy, ${samples} samples after ${warmup} warm-up rounds, load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
  console.log(table(['step', 'median', 'p99', 'mean'], [...steps].map(([name, values]) => {
    const s = summarize(values);
    return [name, ms(s.median), ms(s.p99), ms(s.mean)];
  })));
} finally {
  await ws.dispose();
}
