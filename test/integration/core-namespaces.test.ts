/**
 * Invariant 11 with real namespaces (unshare, nsenter): one root, one world. Processes that
 * cannot exclude each other (another network namespace: their locks do not see each other;
 * another mount namespace: their reconciles do not see each other's mounts) never use one root
 * at once; a plugin restarted into new namespaces takes the root over once the old one is gone
 * and keeps every publication; and no reconcile drops a reference or removes a share because
 * its own namespace cannot see the publication.
 */
import { spawn } from 'node:child_process';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import { bindBackend } from '../../src/backends/bind.js';
import { createSandbox, mountsUnder, seedSourceTree, skipUnlessReady, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();
const fixture = fileURLToPath(new URL('../fixtures/namespace-user.ts', import.meta.url));

type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; code: string; field?: string; message: string };

describe.skipIf(skip)('one root, one world: namespaces', () => {
  let sandbox: Sandbox;
  let bundle: string;

  beforeAll(async () => {
    sandbox = await createSandbox('sharemount-namespaces-');
    await seedSourceTree(sandbox.source, 4);
    bundle = join(sandbox.dir, 'namespace-user.cjs');
    buildSync({ entryPoints: [fixture], bundle: true, platform: 'node', format: 'cjs', target: 'node22', outfile: bundle, logLevel: 'warning' });
    // A shared mount, as a node's /var/lib is: mounts made in a namespace copied with
    // `--propagation unchanged` (a container's Bidirectional volume) reach this one, and back.
    await execa('mount', ['--bind', sandbox.dir, sandbox.dir]);
    await execa('mount', ['--make-shared', sandbox.dir]);
  });
  afterAll(() => sandbox?.cleanup());

  const bind = (path: string) => ({ backend: 'bind', path });
  const publish = (name: string, subPath = 'd000') => ({ publish: { source: bind(sandbox.source), subPath, target: join(sandbox.pods, name) } });

  /** Runs the fixture under `prefix` (unshare..., nsenter...); with `hold`, resolves once it holds the root. */
  function runUser(prefix: string[], root: string, ops: unknown[], hold = false) {
    const child = sandbox.track(spawn(prefix[0]!, [...prefix.slice(1), process.execPath, bundle, JSON.stringify({ root, allowed: [sandbox.source], ops, hold })], { stdio: ['pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const outcomes = () => stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Outcome);
    const done = new Promise<Outcome[]>((resolve, reject) =>
      child.once('close', (code) => (code === 0 ? resolve(outcomes()) : reject(new Error(`${prefix.join(' ')} exited ${code}: ${stderr}`)))),
    );
    const held = new Promise<Outcome[]>((resolve, reject) => {
      child.stdout!.on('data', () => {
        if (stdout.includes('held\n')) resolve(outcomes());
      });
      void done.then(() => reject(new Error('exited without holding the root')), reject);
    });
    held.catch(() => {});
    return { held, done, release: () => child.stdin!.end() };
  }
  const newMountNamespace = ['unshare', '--mount', '--propagation', 'unchanged'];

  /** Every name under the root, with each record's text: "nothing touched" is this, unchanged. */
  async function snapshot(root: string): Promise<Record<string, string>> {
    const names = (await readdir(root, { recursive: true })).sort();
    const out: Record<string, string> = {};
    for (const name of names) {
      const path = join(root, name);
      const stats = await lstat(path);
      // Never read a FIFO (`_worlds/*`): opening one to read waits for a writer.
      out[name] = stats.isFile() ? await readFile(path, 'utf8') : stats.isSymbolicLink() ? `-> ${await readlink(path)}` : stats.isFIFO() ? `fifo ${stats.ino}` : 'dir';
    }
    return out;
  }

  it('a process of another network or mount namespace is refused while one uses the root, naming root and what to change; nothing is touched', async () => {
    const root = join(sandbox.dir, 'root-shared');
    const manager = new MountManager({ root, backends: [bindBackend({ allowedPaths: [sandbox.source] })] });
    const target = join(sandbox.pods, 'in-use');
    await manager.publish({ source: bind(sandbox.source), subPath: 'd000', target });
    const before = { mounts: await mountsUnder(sandbox.dir), root: await snapshot(root) };
    for (const [prefix, differs] of [
      [['unshare', '--net'], /another network namespace/],
      [newMountNamespace, /another mount namespace/],
    ] as const) {
      const outcomes = await runUser([...prefix], root, [publish('second'), { unpublish: target }, { reconcile: true }]).done;
      expect(outcomes).toHaveLength(3);
      for (const outcome of outcomes) {
        expect(outcome).toMatchObject({ ok: false, code: 'FAILED_PRECONDITION', field: 'root' });
        expect((outcome as { message: string }).message).toMatch(differs);
        expect((outcome as { message: string }).message).toMatch(/its own root/);
      }
    }
    expect(await mountsUnder(sandbox.dir)).toEqual(before.mounts);
    expect(await snapshot(root)).toEqual(before.root);
    await manager.unpublish(target);
  });

  it('a plugin restarted into new namespaces is refused while the old one runs, takes the root over once it is gone, and its first reconcile keeps every publication', async () => {
    const root = join(sandbox.dir, 'root-restart');
    const names = ['restart-a', 'restart-b', 'restart-c'];
    const old = runUser(newMountNamespace, root, [publish(names[0]!), publish(names[1]!, 'd001'), publish(names[2]!, 'd002')], true);
    expect((await old.held).every((outcome) => outcome.ok)).toBe(true);
    const published = async () => (await mountsUnder(sandbox.pods)).map((m) => m.mountPoint).filter((p) => names.some((n) => p.endsWith(n)));
    expect(await published()).toHaveLength(3); // propagated here, as a Bidirectional mount reaches the host

    const early = await runUser(newMountNamespace, root, [{ reconcile: true }]).done;
    expect(early[0]).toMatchObject({ ok: false, code: 'FAILED_PRECONDITION', field: 'root' });

    old.release();
    await old.done;
    const restarted = await runUser(newMountNamespace, root, [{ reconcile: true }]).done;
    expect(restarted[0]).toMatchObject({ ok: true, value: { droppedReferences: [], unmountedShares: [] } });
    expect(await published()).toHaveLength(3);
    // Another restart, after the first reconciled (and so took the references as its own).
    const again = await runUser(newMountNamespace, root, [{ reconcile: true }, ...names.map((name) => ({ unpublish: join(sandbox.pods, name) }))]).done;
    expect(again[0]).toMatchObject({ ok: true, value: { droppedReferences: [], unmountedShares: [] } });
    expect(again.slice(1).every((outcome) => outcome.ok && outcome.value.unpublished === true)).toBe(true);
    expect(await published()).toEqual([]);
    expect(await mountsUnder(root)).toEqual([]);
  });

  it('a reconcile from a namespace that cannot see the publications drops no reference and removes no share', async () => {
    const root = join(sandbox.dir, 'root-blind');
    // A namespace made before the publications, private: none of them will ever be visible in
    // it (a container started without propagation from the host). Kept alive by a process that
    // does nothing there. (A bind mount of its file instead needs a mount point that propagates
    // nowhere, and this file's sandbox is shared: the bind failed with EINVAL now and then.)
    const holder = sandbox.track(spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '600'], { stdio: 'ignore' }));
    const nsFile = `/proc/${holder.pid}/ns/mnt`;
    const ours = await readlink('/proc/self/ns/mnt');
    for (let i = 0; i < 400 && (await readlink(nsFile)) === ours; i++) await sleep(25);
    expect(await readlink(nsFile)).not.toBe(ours);

    const maker = await runUser(newMountNamespace, root, [publish('blind-a'), publish('blind-b', 'd003')]).done;
    expect(maker.every((outcome) => outcome.ok)).toBe(true);
    const before = { mounts: await mountsUnder(sandbox.dir), root: await snapshot(root) };
    expect(before.mounts.filter((m) => m.mountPoint.startsWith(root))).toHaveLength(1); // the share

    const blind = await runUser(['nsenter', `--mount=${nsFile}`], root, [{ reconcile: true }]).done;
    expect(blind[0]).toMatchObject({ ok: true, value: { droppedReferences: [], unmountedShares: [] } });
    const problems = (blind[0] as unknown as { value: { problems: Array<{ message: string }> } }).value.problems;
    expect(problems.filter((p) => /another mount namespace/.test(p.message))).toHaveLength(2);
    // Every reference, index entry and share directory is still there, and so is every mount.
    const after = await snapshot(root);
    for (const name of Object.keys(before.root).filter((n) => /refs\/|_targets\/|\/mnt$/.test(n))) expect(Object.keys(after)).toContain(name);
    expect(await mountsUnder(sandbox.dir)).toEqual(expect.arrayContaining(before.mounts));

    // This namespace sees them: it takes the root over (the others are gone) and unpublishes.
    const manager = new MountManager({ root, backends: [bindBackend({ allowedPaths: [sandbox.source] })] });
    for (const name of ['blind-a', 'blind-b']) expect(await manager.unpublish(join(sandbox.pods, name))).toMatchObject({ unpublished: true });
    expect(await mountsUnder(root)).toEqual([]);
  });
});
