/**
 * Invariants 6 and 9 on real mounts: hostile sub-paths, options, targets and sources. Each gets
 * a SharemountError (INVALID_ARGUMENT, or NOT_FOUND where that is the truth) whose `field` names
 * the field at fault, and nothing is mounted, created or removed: no new mount, no new or
 * changed entry in the source or next to it, no new target, no share in the state root.
 */
import { spawn } from 'node:child_process';
import { lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MountManager } from '../../src/mount-manager.js';
import type { PublishRequest } from '../../src/publish-request.js';
import { bindBackend } from '../../src/backends/bind.js';
import { SharemountError } from '../../src/errors.js';
import { fingerprint, type TreeEntry } from '../helpers/fingerprint.js';
import { createSandbox, entriesOf, mountsUnder, seedSourceTree, skipUnlessReady, unmountEverythingUnder, type Sandbox } from '../helpers/sandbox.js';

const skip = skipUnlessReady();
const secret = 'hunter2s3cret';

interface Paths {
  source: string;
  outside: string;
  pods: string;
  root: string;
}

interface HostileCase {
  name: string;
  /** A publish request (`unknown`: most are deliberately ill-typed), or a target for unpublish. */
  input: (p: Paths) => { publish: unknown } | { unpublish: unknown };
  code?: 'INVALID_ARGUMENT' | 'NOT_FOUND';
  field: string | RegExp;
}

const target = (p: Paths) => join(p.pods, 'pod');
const base = (p: Paths, extra: Record<string, unknown> = {}) => ({ publish: { source: { backend: 'bind', path: p.source }, subPath: 'd000', target: target(p), ...extra } });

const cases: HostileCase[] = [
  // Sub-paths that try to leave the share.
  { name: 'subPath ../x', input: (p) => base(p, { subPath: '../x' }), field: 'subPath' },
  { name: 'subPath a/../../b', input: (p) => base(p, { subPath: 'a/../../b' }), field: 'subPath' },
  { name: 'subPath d000/.. (.. even when it stays inside)', input: (p) => base(p, { subPath: 'd000/..' }), field: 'subPath' },
  { name: 'subPath ..', input: (p) => base(p, { subPath: '..' }), field: 'subPath' },
  { name: 'subPath ../x with createIfNecessary', input: (p) => base(p, { subPath: '../x', createIfNecessary: true }), field: 'subPath' },
  { name: 'absolute subPath /etc', input: (p) => base(p, { subPath: '/etc' }), field: 'subPath' },
  { name: 'absolute subPath into the source itself', input: (p) => base(p, { subPath: `${p.source}/d000` }), field: 'subPath' },
  { name: 'symlink in the share pointing to /etc', input: (p) => base(p, { subPath: 'link-etc' }), field: 'subPath' },
  { name: 'path through a symlink to /etc', input: (p) => base(p, { subPath: 'link-etc/ssh' }), field: 'subPath' },
  { name: 'symlink pointing to a sibling dir outside the share', input: (p) => base(p, { subPath: 'link-out' }), field: 'subPath' },
  { name: 'createIfNecessary through a symlink pointing outside', input: (p) => base(p, { subPath: 'link-out/new', createIfNecessary: true }), field: 'subPath' },
  { name: 'symlink pointing inside the share (never followed either)', input: (p) => base(p, { subPath: 'link-in' }), field: 'subPath' },
  { name: 'subPath with a NUL byte', input: (p) => base(p, { subPath: 'd000\0/etc' }), field: 'subPath' },
  { name: 'subPath with a newline', input: (p) => base(p, { subPath: 'd000\nx' }), field: 'subPath' },
  { name: 'subPath with a 4 KiB name', input: (p) => base(p, { subPath: 'x'.repeat(4096), createIfNecessary: true }), field: 'subPath' },
  { name: 'subPath longer than 4 KiB', input: (p) => base(p, { subPath: 'abc/'.repeat(1100), createIfNecessary: true }), field: 'subPath' },
  { name: 'subPath that is a file', input: (p) => base(p, { subPath: 'top.bin' }), field: 'subPath' },
  { name: 'missing subPath without createIfNecessary', input: (p) => base(p, { subPath: 'missing/deeper' }), code: 'NOT_FOUND', field: 'subPath' },
  // Options that try to inject arguments or change what mount(8) does.
  { name: 'comma inside an option value (array form)', input: (p) => base(p, { options: ['nosuid', 'uid=1,gid=0'] }), field: 'options[1]' },
  { name: '= inside an option value', input: (p) => base(p, { options: 'context=a=b' }), field: 'options[0]' },
  { name: 'newline in options', input: (p) => base(p, { options: 'nosuid\nnodev' }), field: 'options[0]' },
  { name: 'space in options', input: (p) => base(p, { options: 'nosuid nodev' }), field: 'options[0]' },
  { name: 'quote in an option value', input: (p) => base(p, { options: ['nosuid', 'uid="0"'] }), field: 'options[1]' },
  { name: 'option starting with -', input: (p) => base(p, { options: '-o' }), field: 'options[0]' },
  { name: 'option --bind', input: (p) => base(p, { options: ['nodev', '--bind'] }), field: 'options[1]' },
  { name: 'option " -t nfs" (leading blank)', input: (p) => base(p, { options: ' -t nfs' }), field: 'options[0]' },
  { name: 'reserved option bind', input: (p) => base(p, { options: 'nosuid,bind' }), field: 'options[1]' },
  { name: 'reserved option remount', input: (p) => base(p, { options: 'remount' }), field: 'options[0]' },
  { name: 'reserved option X-mount.mkdir', input: (p) => base(p, { options: 'X-mount.mkdir' }), field: 'options[0]' },
  { name: 'reserved option x-mount.mkdir=0700', input: (p) => base(p, { options: 'x-mount.mkdir=0700' }), field: 'options[0]' },
  { name: 'ro and rw together', input: (p) => base(p, { options: 'ro,rw' }), field: 'options' },
  { name: 'the same option with two values', input: (p) => base(p, { options: 'mode=1,mode=2' }), field: 'options[1]' },
  { name: 'a 4 KiB option', input: (p) => base(p, { options: 'a'.repeat(4096) }), field: 'options[0]' },
  { name: 'options of the wrong type', input: (p) => base(p, { options: 42 }), field: /^options/ },
  { name: 'an option the bind backend does not know', input: (p) => base(p, { options: 'vers=4.1' }), field: 'options[0]' },
  // Secret options with bad characters: refused without quoting the secret (checked below too).
  { name: 'sensitive option with a space', input: (p) => base(p, { sensitiveOptions: `password=${secret} x` }), field: 'sensitiveOptions[0]' },
  { name: 'sensitive option with a comma (array form)', input: (p) => base(p, { sensitiveOptions: [`password=${secret},uid=0`] }), field: 'sensitiveOptions[0]' },
  { name: 'sensitive option with a quote', input: (p) => base(p, { sensitiveOptions: `password="${secret}"` }), field: 'sensitiveOptions[0]' },
  { name: 'sensitive option starting with -', input: (p) => base(p, { sensitiveOptions: `-password=${secret}` }), field: 'sensitiveOptions[0]' },
  { name: 'sensitive option with a newline', input: (p) => base(p, { sensitiveOptions: `pass\nword=${secret}` }), field: 'sensitiveOptions[0]' },
  // Targets.
  { name: 'relative target', input: (p) => base(p, { target: 'pods/pod' }), field: 'target' },
  { name: 'non-normalised target (..)', input: (p) => base(p, { target: `${p.pods}/../pods/pod` }), field: 'target' },
  { name: 'non-normalised target (//)', input: (p) => base(p, { target: `${p.pods}//pod` }), field: 'target' },
  { name: 'target with a trailing /', input: (p) => base(p, { target: `${target(p)}/` }), field: 'target' },
  { name: 'target /', input: (p) => base(p, { target: '/' }), field: 'target' },
  { name: 'target inside the state root', input: (p) => base(p, { target: join(p.root, 'bind') }), field: 'target' },
  { name: 'target above the state root', input: (p) => base(p, { target: dirname(p.root) }), field: 'target' },
  { name: 'target reaching the state root through a symlinked parent', input: (p) => base(p, { target: join(p.pods, 'to-root', 'x') }), field: 'target' },
  { name: 'target with a NUL byte', input: (p) => base(p, { target: `${target(p)}\0x` }), field: 'target' },
  { name: 'target with a newline', input: (p) => base(p, { target: `${target(p)}\nx` }), field: 'target' },
  { name: 'target longer than 4 KiB', input: (p) => base(p, { target: `${p.pods}/${'t'.repeat(4096)}` }), field: 'target' },
  { name: 'target whose parent does not exist', input: (p) => base(p, { target: join(p.pods, 'no-parent', 'pod') }), code: 'NOT_FOUND', field: 'target' },
  { name: 'target that is a file', input: (p) => base(p, { target: join(p.pods, 'a-file') }), field: 'target' },
  { name: 'target that is a symlink', input: (p) => base(p, { target: join(p.pods, 'a-link') }), field: 'target' },
  // Sources and the request's shape.
  { name: 'unknown backend', input: (p) => base(p, { source: { backend: 'nfs2', path: p.source } }), field: 'source.backend' },
  { name: 'relative source path', input: (p) => base(p, { source: { backend: 'bind', path: 'src' } }), field: 'source.path' },
  { name: 'non-normalised source path', input: (p) => base(p, { source: { backend: 'bind', path: `${p.source}/../src` } }), field: 'source.path' },
  { name: 'source path with a NUL byte', input: (p) => base(p, { source: { backend: 'bind', path: `${p.source}\0` } }), field: 'source.path' },
  { name: 'source with an unknown field', input: (p) => base(p, { source: { backend: 'bind', path: p.source, options: 'rw' } }), field: /^source/ },
  { name: 'source that is a string', input: (p) => base(p, { source: p.source }), field: 'source' },
  { name: 'bind source that is the state root', input: (p) => base(p, { source: { backend: 'bind', path: p.root }, subPath: '' }), field: 'source.path' },
  { name: 'bind source above the state root', input: (p) => base(p, { source: { backend: 'bind', path: dirname(p.root) }, subPath: '' }), field: 'source.path' },
  { name: 'bind source through a symlink to the state root', input: (p) => base(p, { source: { backend: 'bind', path: join(p.pods, 'to-root') }, subPath: '' }), field: 'source.path' },
  { name: 'propagation option that would join the pods in one peer group', input: (p) => base(p, { options: 'shared' }), field: 'options[0]' },
  { name: "secret option outside the backend's allowlist", input: (p) => base(p, { sensitiveOptions: `nosuid,key=${secret}` }), field: 'sensitiveOptions[1]' },
  { name: 'unknown request field', input: (p) => base(p, { mountFlags: ['bind'] }), field: 'mountFlags' },
  { name: 'unknown strategy', input: (p) => base(p, { strategy: 'hardlink' }), field: 'strategy' },
  { name: 'read-only symlink publication', input: (p) => base(p, { strategy: 'symlink', readOnly: true }), field: 'readOnly' },
  { name: 'readOnly of the wrong type', input: (p) => base(p, { readOnly: 'yes' }), field: 'readOnly' },
  { name: 'createMode not octal', input: (p) => base(p, { subPath: 'new', createIfNecessary: true, createMode: '999' }), field: 'createMode' },
  { name: 'createIfNecessary of the wrong type', input: (p) => base(p, { subPath: 'new', createIfNecessary: 'yes' }), field: 'createIfNecessary' },
  { name: 'label longer than 1 KiB', input: (p) => base(p, { label: 'l'.repeat(1025) }), field: 'label' },
  { name: 'createMode too large', input: (p) => base(p, { subPath: 'new', createIfNecessary: true, createMode: 0o17777 }), field: 'createMode' },
  // Targets that cannot be used fail with a typed error naming the target, not a raw errno.
  { name: 'target whose parent is a file', input: (p) => base(p, { target: join(p.pods, 'a-file', 'vol') }), field: 'target' },
  { name: 'createIfNecessary with a target that is a file: nothing created in the share', input: (p) => base(p, { subPath: 'made/by/a/refused/request', createIfNecessary: true, target: join(p.pods, 'a-file') }), field: 'target' },
  { name: 'createIfNecessary with a symlink as the target: nothing created in the share', input: (p) => base(p, { subPath: 'made/too', createIfNecessary: true, target: join(p.pods, 'a-link') }), field: 'target' },
  { name: 'target with a 300-byte name', input: (p) => base(p, { target: join(p.pods, 'n'.repeat(300)) }), field: 'target' },
  { name: 'target under a symlink loop', input: (p) => base(p, { target: join(p.pods, 'loop', 'vol') }), field: 'target' },
  { name: 'symlink publication whose target parent is missing', input: (p) => base(p, { strategy: 'symlink', target: join(p.pods, 'missing', 'vol') }), code: 'NOT_FOUND', field: 'target' },
  { name: 'createIfNecessary in a read-only share', input: (p) => base(p, { options: 'ro', subPath: 'new-dir', createIfNecessary: true }), field: 'subPath' },
  { name: 'bind source path with a lone surrogate', input: (p) => base(p, { source: { backend: 'bind', path: `${p.source}/\ud800` } }), field: 'source.path' },
  // unpublish takes the same care with its one input.
  { name: 'unpublish a target that is not a string', input: () => ({ unpublish: 123 }), field: 'target' },
  { name: 'unpublish a relative target', input: () => ({ unpublish: 'pods/pod' }), field: 'target' },
  { name: 'unpublish a non-normalised target', input: (p) => ({ unpublish: `${p.pods}/x/../pod` }), field: 'target' },
  { name: 'unpublish a target with a NUL byte', input: (p) => ({ unpublish: `${target(p)}\0` }), field: 'target' },
  { name: 'unpublish inside the state root', input: (p) => ({ unpublish: join(p.root, '_targets') }), field: 'target' },
  { name: 'unpublish an empty target', input: () => ({ unpublish: '' }), field: 'target' },
];

/**
 * For the describe block it is called in: a sandbox with one seeded source directory, made
 * before the block's first test and cleaned up after its last. Returns its getter.
 */
function seededSandboxForBlock(): () => Sandbox {
  let sandbox: Sandbox | undefined;
  beforeAll(async () => {
    sandbox = await createSandbox();
    await seedSourceTree(sandbox.source, 1);
  });
  afterAll(async () => {
    await sandbox?.cleanup();
  });
  return () => {
    if (sandbox === undefined) throw new Error('no sandbox: the block\'s beforeAll did not make one');
    return sandbox;
  };
}

describe.skipIf(skip)('core: hostile inputs are refused and change nothing', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let paths: Paths;
  let sourceBefore: Map<string, TreeEntry>;
  let outsideBefore: Map<string, TreeEntry>;
  let podsBefore: string[];

  beforeAll(async () => {
    sandbox = await createSandbox();
    await seedSourceTree(sandbox.source, 2);
    const outside = join(sandbox.dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'private.txt'), 'outside the share\n');
    await symlink('/etc', join(sandbox.source, 'link-etc'));
    await symlink('../outside', join(sandbox.source, 'link-out'));
    await symlink('d000', join(sandbox.source, 'link-in'));
    await writeFile(join(sandbox.pods, 'a-file'), '');
    await symlink(join(sandbox.source, 'd001'), join(sandbox.pods, 'a-link'));
    await symlink(sandbox.root, join(sandbox.pods, 'to-root'));
    await symlink('loop', join(sandbox.pods, 'loop'));
    paths = { source: sandbox.source, outside, pods: sandbox.pods, root: sandbox.root };
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    await manager.root(); // the root exists before the first case, as on a node in service
    paths.root = await manager.root();
    sourceBefore = await fingerprint(sandbox.source);
    outsideBefore = await fingerprint(outside);
    podsBefore = await entriesOf(sandbox.pods);
  });

  afterEach(async () => {
    // A case that fails must not make the next ones fail: undo whatever it left.
    await manager.reconcile().catch(() => {});
    await unmountEverythingUnder(sandbox.pods);
    await unmountEverythingUnder(sandbox.root);
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  it('attacks every field of a publish request, and the target of unpublish', () => {
    // Listing PublishRequest's fields here fails to compile when one is added without a case list entry.
    const fields = Object.keys({
      source: true, options: true, sensitiveOptions: true, subPath: true, createIfNecessary: true,
      createMode: true, readOnly: true, target: true, strategy: true, label: true,
    } satisfies Record<keyof PublishRequest, true>);
    const attacked = (op: 'publish' | 'unpublish') => new Set(cases
      .filter((c) => op in c.input(paths))
      .map((c) => (typeof c.field === 'string' ? c.field : c.field.source.replace(/^\^/, '')).split(/[.[]/)[0]));
    const publish = attacked('publish');
    expect(fields.filter((field) => !publish.has(field))).toEqual([]);
    expect([...attacked('unpublish')]).toEqual(['target']);
  });

  it.each(cases)('$name', async ({ input, code = 'INVALID_ARGUMENT', field }) => {
    const call = input(paths);
    const error = await ('publish' in call
      ? manager.publish(call.publish as Parameters<MountManager['publish']>[0])
      : manager.unpublish(call.unpublish as string)
    ).then(
      (result) => new Error(`accepted: ${JSON.stringify(result)}`),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SharemountError);
    const typed = error as SharemountError;
    expect({ code: typed.code, field: typed.field }).toEqual({ code, field: typeof field === 'string' ? field : expect.stringMatching(field) });
    expect(typed.message).toContain(typed.field!); // the message names the field too
    for (const text of [typed.message, typed.stack ?? '', JSON.stringify(typed.details ?? {}), String(typed.cause ?? '')]) {
      expect(text).not.toContain(secret);
    }

    // Nothing mounted, created or removed.
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await fingerprint(sandbox.source)).toEqual(sourceBefore);
    expect(await fingerprint(paths.outside)).toEqual(outsideBefore);
    expect(await entriesOf(sandbox.pods)).toEqual(podsBefore);
    expect(await manager.list()).toEqual([]);
    expect((await readdir(paths.root)).filter((name) => name !== '_key' && name !== '_targets' && name !== '_worlds')).toEqual([]);
    expect(await entriesOf(join(paths.root, '_targets'))).toEqual([]);
  });
});

describe.skipIf(skip)('core: a bind source swapped for a link to the state root after the check', () => {
  let sandbox: Sandbox;
  let manager: MountManager;
  let root: string;

  beforeAll(async () => {
    sandbox = await createSandbox();
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    root = await manager.root();
    await mkdir(join(sandbox.source, 'harmless'));
    await mkdir(join(sandbox.dir, 'ctl'));
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  it('never mounts the root, however the race falls: the mount is made from the directory checked', async () => {
    const link = join(sandbox.dir, 'ctl', 'link');
    // A process that owns ctl/ flips the link as fast as it can (rename over it: always one there).
    const flipper = sandbox.track(
      spawn(process.execPath, ['-e', `const fs = require('fs'); const [a, b, link] = process.argv.slice(1);
        for (let i = 0; ; i++) { fs.rmSync(link + '.t', { force: true }); fs.symlinkSync(i % 2 ? b : a, link + '.t'); fs.renameSync(link + '.t', link); }`,
      join(sandbox.source, 'harmless'), root, link], { stdio: 'ignore' }),
    );
    try {
      for (let wait = 0; !(await lstat(link).then(() => true, () => false)); wait++) {
        if (wait > 200) throw new Error('the flipper never made its link');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const outcomes = { published: 0, refused: 0 };
      for (let i = 0; i < 150; i++) {
        const publication = await manager.publish({ source: { backend: 'bind', path: link }, target: join(sandbox.pods, 'pod') }).catch((error: unknown) => {
          expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'source.path' });
          return undefined;
        });
        if (publication === undefined) {
          outcomes.refused++;
          continue;
        }
        outcomes.published++;
        expect(await readdir(publication.target)).not.toContain('_key');
        await manager.unpublish(publication.target);
      }
      // Both sides of the race happened, or the test proved nothing.
      expect(outcomes.published).toBeGreaterThan(0);
      expect(outcomes.refused).toBeGreaterThan(0);
    } finally {
      flipper.kill('SIGKILL');
    }
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });

  it('reconcile does not remount a share whose source now leads to the root', async () => {
    const link = join(sandbox.dir, 'ctl', 'still');
    await symlink(join(sandbox.source, 'harmless'), link);
    const publication = await manager.publish({ source: { backend: 'bind', path: link }, target: join(sandbox.pods, 'pod-r') });
    // The share's mount gone behind our back while its publication stays (reconcile remounts such a share)...
    await unmountEverythingUnder(root);
    // ...and the source link pointed at the root meanwhile.
    await rm(link);
    await symlink(root, link);
    const report = await manager.reconcile();
    expect(report.remountedShares).toEqual([]);
    expect(report.problems.map((p) => p.message).join('\n')).toMatch(/state root/);
    expect((await mountsUnder(root)).filter((m) => m.mountPoint.endsWith('/mnt'))).toEqual([]);
    await manager.unpublish(publication.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});

describe.skipIf(skip)('core: a bind backend limited to allowedPaths', () => {
  let sandbox: Sandbox;
  let manager: MountManager;

  beforeAll(async () => {
    sandbox = await createSandbox();
    manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: [join(sandbox.source, 'served')] })] });
    await mkdir(join(sandbox.source, 'served', 'vol'), { recursive: true });
    await mkdir(join(sandbox.source, 'other'));
    await symlink(join(sandbox.source, 'other'), join(sandbox.source, 'served', 'link-out'));
    await symlink(join(sandbox.source, 'served'), join(sandbox.dir, 'link-in'));
  });

  afterAll(async () => {
    await sandbox?.cleanup();
  });

  it('mounts what lies inside, by any path, and refuses anything else by the directory it reaches, mounting nothing', async () => {
    for (const path of [join(sandbox.source, 'served'), join(sandbox.source, 'served', 'vol'), join(sandbox.dir, 'link-in')]) {
      const publication = await manager.publish({ source: { backend: 'bind', path }, target: join(sandbox.pods, 'pod') });
      await manager.unpublish(publication.target);
    }
    for (const path of [join(sandbox.source, 'other'), join(sandbox.source, 'served', 'link-out'), sandbox.source, '/etc']) {
      await expect(manager.publish({ source: { backend: 'bind', path }, target: join(sandbox.pods, 'pod') }), path).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'source.path',
        message: expect.stringContaining('the host directories this driver serves'),
      });
    }
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(() => bindBackend({ allowedPaths: ['relative'] })).toThrow(expect.objectContaining({ field: 'allowedPaths[0]' }));
  });

  it('refuses a new consumer of a share mounted before the limit was set (a driver upgraded, the state root kept)', async () => {
    const unlimited = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    const first = await unlimited.publish({ source: { backend: 'bind', path: join(sandbox.source, 'other') }, target: join(sandbox.pods, 'before') });
    await expect(manager.publish({ source: { backend: 'bind', path: join(sandbox.source, 'other') }, target: join(sandbox.pods, 'after') })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'source.path' });
    expect((await mountsUnder(sandbox.pods)).map((m) => m.mountPoint)).toEqual([first.target]);
    await unlimited.unpublish(first.target);
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});

describe.skipIf(skip)('core: the bind backend as shipped serves no host directory', () => {
  const blockSandbox = seededSandboxForBlock();

  it('refuses /etc and every other path, naming allowedPaths, and mounts or creates nothing', async () => {
    const sandbox = blockSandbox();
    const manager = new MountManager({ root: sandbox.root, backends: [bindBackend()] });
    const root = await manager.root();
    for (const [path, subPath] of [['/etc', ''], ['/', 'etc'], [sandbox.source, 'd000']] as const) {
      const error = await manager.publish({ source: { backend: 'bind', path }, subPath, target: join(sandbox.pods, 'pod') }).catch((e: unknown) => e);
      expect(error, path).toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'source.path',
        message: "source.path: is refused: this driver serves no host directory until it lists the ones it may mount in the bind backend's option allowedPaths",
      });
    }
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await entriesOf(sandbox.pods)).toEqual([]);
    expect((await entriesOf(root)).filter((name) => name !== '_key' && name !== '_targets' && name !== '_worlds')).toEqual([]); // no share
    expect(await entriesOf(join(root, '_targets'))).toEqual([]);
    expect(await manager.list()).toEqual([]);
  });

  it('with provisioning, serves its own root and nothing else', async () => {
    const sandbox = blockSandbox();
    const volumes = join(sandbox.dir, 'volumes');
    await mkdir(join(volumes, 'pvc-1'), { recursive: true });
    const manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ provisioning: { root: volumes } })] });
    const published = await manager.publish({ source: { backend: 'bind', path: volumes }, subPath: 'pvc-1', target: join(sandbox.pods, 'pod') });
    await manager.unpublish(published.target);
    await expect(manager.publish({ source: { backend: 'bind', path: '/etc' }, target: join(sandbox.pods, 'pod') })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'source.path',
      message: expect.stringContaining(`must be inside ${volumes}, the host directories this driver serves (the bind backend's option allowedPaths)`),
    });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
  });
});

describe.skipIf(skip)('core: a target whose parent does not resolve yet', () => {
  const blockSandbox = seededSandboxForBlock();

  it('is refused: a dangling symlink to where the first share makes its directories would otherwise be checked as given and then followed into the root', async () => {
    const sandbox = blockSandbox();
    const manager = new MountManager({ root: sandbox.root, backends: [bindBackend({ allowedPaths: ['/'] })] });
    // Before any share: <root>/bind does not exist, and the publication itself makes it.
    await symlink(join(await manager.root(), 'bind'), join(sandbox.pods, 'dangling'));
    const error = await manager.publish({ source: { backend: 'bind', path: sandbox.source }, subPath: 'd000', target: join(sandbox.pods, 'dangling', 'x') }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NOT_FOUND', field: 'target', message: expect.stringContaining('parent directory') });
    expect(await mountsUnder(sandbox.dir)).toEqual([]);
    expect(await manager.list()).toEqual([]);
  });
});
