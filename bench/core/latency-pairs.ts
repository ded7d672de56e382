import { mkdir, readlink, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/exec.js';
import { buildMountArgs, type MountCall } from '../../src/mount-command.js';
import { isMountPoint } from '../../src/mount-point.js';
import type { MountManager } from '../../src/mount-manager.js';
import type { Workspace } from './workspace.js';
import type { OperationPair } from './interleave.js';

const timeoutMs = 30_000;
// What src/mount-command.ts passes to mount(8) and umount(8), so the bare runs cost the same.
const commandEnv = { LC_ALL: 'C', LANG: 'C' };

/** One comparison: a library operation and the bare operations it must perform. */
export interface Comparison {
  library: OperationPair;
  bare: OperationPair;
  /** Labels for the table: what each half of each pair is. */
  labels: { libraryMake: string; libraryUnmake: string; bareMake: string; bareUnmake: string };
}

/**
 * The publish/unpublish pairs measured side by side with their bare counterparts. The shared
 * share stays mounted throughout (an anchor publication holds it), so a publish is what kubelet
 * sees for every pod after the first: one bind mount (or symlink) of a sub-directory. One more
 * pair measures the first publication of a share, which mounts the share too.
 * Returns the comparisons and a function removing the anchor.
 */
export async function latencyComparisons(manager: MountManager, ws: Workspace): Promise<{ comparisons: Comparison[]; release: () => Promise<void> }> {
  const source = ws.path('source');
  const firstSource = ws.path('source-first');
  const targets = ws.path('targets');
  for (const dir of [join(source, 'vol'), join(source, 'anchor'), join(firstSource, 'vol'), targets, ws.path('bare-share')]) await mkdir(dir, { recursive: true });
  const target = (name: string) => join(targets, name);
  for (const name of ['anchor', 'bare-bind', 'bind', 'bare-bind-ro', 'bind-ro', 'bare-first', 'first']) await mkdir(target(name));

  const share = { backend: 'bind', path: source };
  const firstShare = { backend: 'bind', path: firstSource };
  await manager.publish({ source: share, subPath: 'anchor', target: target('anchor') });

  const publishPair = (name: string, request: Parameters<MountManager['publish']>[0]): OperationPair => ({
    name,
    make: () => manager.publish(request),
    unmake: () => manager.unpublish(request.target, { removeTarget: false }),
    verify: request.strategy === 'symlink' ? () => expectSymlink(request.target) : () => expectMountPoint(request.target),
  });
  const bareBindPair = (name: string, from: string, to: string, options: string[] = []): OperationPair => ({
    name,
    make: () => bareMount({ bind: true, noCanonicalize: true, source: from, target: to, options }),
    unmake: () => bareUnmount(to),
    verify: () => expectMountPoint(to),
  });

  // The bare symlink points where the library's does: into the share's mount point.
  const symlinkDestination = join(await shareMountPoint(manager, share), 'vol');
  const comparisons: Comparison[] = [
    {
      library: publishPair('bind', { source: share, subPath: 'vol', target: target('bind') }),
      bare: bareBindPair('bare-bind', join(source, 'vol'), target('bare-bind')),
      labels: { libraryMake: 'publish, bind', libraryUnmake: 'unpublish, bind', bareMake: '`mount --bind`', bareUnmake: '`umount`' },
    },
    {
      library: publishPair('bind-ro', { source: share, subPath: 'vol', target: target('bind-ro'), readOnly: true }),
      bare: bareBindPair('bare-bind-ro', join(source, 'vol'), target('bare-bind-ro'), ['ro']),
      labels: { libraryMake: 'publish, bind, readOnly', libraryUnmake: 'unpublish, bind, readOnly', bareMake: '`mount --bind -o ro`', bareUnmake: '`umount`' },
    },
    {
      library: publishPair('symlink', { source: share, subPath: 'vol', target: target('symlink'), strategy: 'symlink' }),
      bare: {
        name: 'bare-symlink',
        make: () => symlink(symlinkDestination, target('bare-symlink')),
        unmake: () => unlink(target('bare-symlink')),
        verify: () => expectSymlink(target('bare-symlink')),
      },
      labels: { libraryMake: 'publish, symlink', libraryUnmake: 'unpublish, symlink', bareMake: '`fs.symlink`', bareUnmake: '`fs.unlink`' },
    },
    {
      library: publishPair('first', { source: firstShare, subPath: 'vol', target: target('first') }),
      bare: {
        name: 'bare-first',
        make: async () => {
          await bareMount({ bind: true, noCanonicalize: true, source: firstSource, target: ws.path('bare-share') });
          await bareMount({ bind: true, noCanonicalize: true, source: join(ws.path('bare-share'), 'vol'), target: target('bare-first') });
        },
        unmake: async () => {
          await bareUnmount(target('bare-first'));
          await bareUnmount(ws.path('bare-share'));
        },
        verify: () => expectMountPoint(target('bare-first')),
      },
      labels: {
        libraryMake: "publish, bind, the share's first (mounts the share)",
        libraryUnmake: "unpublish, bind, the share's last (unmounts it)",
        bareMake: '2 × `mount --bind`',
        bareUnmake: '2 × `umount`',
      },
    },
  ];
  return { comparisons, release: async () => void (await manager.unpublish(target('anchor'), { removeTarget: false })) };
}

async function shareMountPoint(manager: MountManager, source: { backend: string; path: string }): Promise<string> {
  return join(await manager.root(), await manager.shareKeyOf({ source }), 'mnt');
}

async function bareMount(call: MountCall): Promise<void> {
  await run('mount', buildMountArgs(call), { timeoutMs, env: commandEnv });
}

async function bareUnmount(target: string): Promise<void> {
  await run('umount', ['--', target], { timeoutMs, env: commandEnv }); // as unmountPublication's first step
}

async function expectMountPoint(path: string): Promise<void> {
  if (!(await isMountPoint(path))) throw new Error(`${path} should be a mount point after the operation`);
}

async function expectSymlink(path: string): Promise<void> {
  await readlink(path); // throws unless it is a symlink
}
