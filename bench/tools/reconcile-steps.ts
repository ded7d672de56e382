/**
 * Where the time of `reconcile()` goes with many references: builds them through the manager
 * (bind strategy, real mounts), then times the whole call next to its parts, replayed with the
 * same functions from src/ in the order src/reconcile.ts uses them. A diagnostic for when the
 * core's reconcile target is not met; not a section of docs/benchmarks.md. Run as root:
 *   unshare -m --propagation private -- tsx bench/tools/reconcile-steps.ts [shares] [perShare]
 * With RECONCILE_PROFILE=<file.cpuprofile>, the three whole reconcile() runs are CPU-profiled
 * (and nothing else), for Chrome DevTools or any .cpuprofile reader.
 */
import { mkdir, realpath, stat, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bindBackend } from '../../src/backends/bind.js';
import { decodeComponent, isHashedComponent } from '../../src/escape.js';
import { run } from '../../src/exec.js';
import { KeyedLock } from '../../src/lock.js';
import { silentLogger } from '../../src/logger.js';
import { defaultTimeouts } from '../../src/manager-options.js';
import { MountManager } from '../../src/mount-manager.js';
import { readMountInfo, topMounts } from '../../src/mountinfo.js';
import { reconcileShares } from '../../src/reconcile.js';
import { StateStore } from '../../src/state.js';
import { ms, table } from '../lib.js';
import { forEachConcurrently } from '../core/concurrently.js';
import { createWorkspace } from '../core/workspace.js';
import { HungShares } from '../../src/hung-shares.js';

const shares = Number(process.argv[2] ?? 100);
const perShare = Number(process.argv[3] ?? 50);

const ws = await createWorkspace('reconcile-steps-');
try {
  // Targets on their own tmpfs: one lazy unmount removes every publication at the end.
  await mkdir(ws.path('targets'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=16m', '--', 'reconcile-steps', ws.path('targets')], { timeoutMs: 30_000 });
  const manager = new MountManager({ root: ws.path('root'), backends: [bindBackend({ allowedPaths: ['/'] })] });
  const requests = [];
  for (let s = 0; s < shares; s++) {
    const path = ws.path('sources', `s${s}`);
    await mkdir(path, { recursive: true });
    for (let r = 0; r < perShare; r++) requests.push({ source: { backend: 'bind', path } as { backend: string }, subPath: `d${r}`, createIfNecessary: true, target: ws.path('targets', `t${s}-${r}`) });
  }
  let start = performance.now();
  await forEachConcurrently(requests, 8, (request) => manager.publish(request));
  console.log(`built ${requests.length} publications over ${shares} shares in ${((performance.now() - start) / 1000).toFixed(1)} s; load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  const root = await realpath(ws.path('root'));
  const identity = await stat(root);
  const state = new StateStore(root);
  const locks = new KeyedLock(`${identity.dev}:${identity.ino}`, 60_000);
  const deps = { root, state, locks, backends: new Map([['bind', bindBackend({ allowedPaths: ['/'] })]]), timeouts: defaultTimeouts, logger: silentLogger, hungShares: new HungShares() };

  const rows: Array<[string, string]> = [];
  const timed = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const begin = performance.now();
    const result = await work();
    rows.push([label, ms(performance.now() - begin)]);
    return result;
  };
  const profile = process.env.RECONCILE_PROFILE;
  const session = profile ? await startProfile() : undefined;
  for (let i = 0; i < 3; i++) await timed(`manager.reconcile(), run ${i + 1}`, () => manager.reconcile());
  if (session && profile) await stopProfile(session, profile);
  const keys = await timed('state.listShareKeys()', () => state.listShareKeys());
  await timed('readMountInfo() + topMounts()', async () => topMounts(await readMountInfo()));
  await timed(`reconcileShares(deps, key) for each of the ${keys.length} shares, one after the other (includes a mountinfo read each)`, async () => {
    for (const key of keys) await reconcileShares(deps, key);
  });
  await timed(`state.listRefs(key) for each share (readdir, readFile, JSON, zod)`, async () => {
    for (const key of keys) await state.listRefs(key);
  });
  const index = await timed('state.listIndex() (readdir _targets, readlink each)', () => state.listIndex());
  await timed(`index pass as dropDanglingIndexEntries does it: per entry, target lock + readIndex + readRef`, async () => {
    for (const { name, key } of index) {
      if (key === undefined || isHashedComponent(name)) continue;
      const target = decodeComponent(name);
      await locks.withLock(`target:${target}`, async () => {
        if ((await state.readIndex(target)) !== key || (await state.readRef(key, target))) return;
      });
    }
  });
  await timed('the same index pass without the lock', async () => {
    for (const { name, key } of index) {
      if (key === undefined || isHashedComponent(name)) continue;
      const target = decodeComponent(name);
      if ((await state.readIndex(target)) !== key || (await state.readRef(key, target))) continue;
    }
  });
  await timed(`${index.length} × lock alone (KeyedLock.withLock, nothing inside)`, async () => {
    for (const { name } of index) await locks.withLock(`target:${name}`, async () => {});
  });
  console.log(table(['step', 'time'], rows));

  start = performance.now();
  await run('umount', ['--lazy', '--', ws.path('targets')], { timeoutMs: 30_000 });
} finally {
  await ws.dispose();
}

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return session;
}

async function stopProfile(session: Session, file: string): Promise<void> {
  const { profile } = await session.post('Profiler.stop');
  await writeFile(file, JSON.stringify(profile));
  session.disconnect();
}
