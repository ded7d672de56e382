import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MountManager } from '../../src/mount-manager.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { mount, unmount } from '../../src/mount-command.js';
import { readMountInfo } from '../../src/mountinfo.js';
import { missingNfsPrerequisites, startNfsServer } from '../../test/helpers/nfs-server.js';
import { installMountNfsSeam } from '../../test/helpers/mount-nfs-seam.js';
import { ms, table, type BenchSection } from '../lib.js';

const consumers = Number(process.env.SHAREMOUNT_BENCH_NFS_CONSUMERS ?? 200);

interface Figures {
  nfsMounts: number;
  mountsCreated: number;
  publishMs: number;
  teardownMs: number;
}

/**
 * 200 consumers of sub-directories of one NFS export, two ways, against a real nfs-ganesha on
 * 127.0.0.1 and the same mount.nfs seam (which asks the server, like a real mount, before it
 * mounts): sharemount publishing onto one share, and the in-tree approach of one full
 * `mount -t nfs server:/export/subdir` per consumer.
 */
export async function run(): Promise<BenchSection> {
  const title = 'NFS: one share vs a mount per consumer';
  const missing = missingNfsPrerequisites();
  if (missing.length > 0) return { title, markdown: `Not measured: missing ${missing.join(', ')}.` };
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-bench-nfs-'));
  const server = await startNfsServer();
  try {
    const seam = await installMountNfsSeam([server]);
    try {
      for (let i = 0; i < consumers; i++) await mkdir(join(server.exportDir, `c${i}`));
      const shared = await sharedShare(dir, server.mountOptions, seam.calls);
      const perConsumer = await mountPerConsumer(dir, server.mountOptions, seam.calls);
      const row = (name: string, f: Figures) => [name, f.nfsMounts, f.mountsCreated, ms(f.publishMs), ms(f.publishMs / consumers), ms(f.teardownMs)];
      const ratio = perConsumer.publishMs / shared.publishMs;
      return {
        title,
        markdown: [
          `${consumers} consumers, each a sub-directory of one export (nfs-ganesha on loopback; the kernel client is the test seam, so a real NFS mount costs more than the "full mount" row shows: each one is also a superblock and a TCP session).`,
          '',
          table(['approach', 'NFS mounts (`mount.nfs` runs)', 'mounts created', 'total publish', 'per consumer', 'total teardown'], [
            row('sharemount: publish onto one share', shared),
            row('in-tree: `mount -t nfs` per consumer', perConsumer),
          ]),
          '',
          `One NFS mount instead of ${perConsumer.nfsMounts}; publishing was ${ratio.toFixed(1)}x ${ratio >= 1 ? 'faster' : 'slower'} than a full mount per consumer.`,
        ].join('\n'),
      };
    } finally {
      await seam.uninstall();
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function sharedShare(dir: string, options: string[], calls: () => Promise<unknown[]>): Promise<Figures> {
  const backend = nfsBackend();
  const manager = new MountManager({ root: join(dir, 'root'), backends: [backend] });
  const pods = join(dir, 'shared');
  await mkdir(pods);
  const before = { calls: (await calls()).length, mounts: (await readMountInfo()).length };
  const targets: string[] = [];
  const start = performance.now();
  for (let i = 0; i < consumers; i++) {
    const target = join(pods, `p${i}`);
    await manager.publish({ ...backend.toVolume(backend.parameters.parse({ share: '127.0.0.1:/export', mountOptions: options, subPath: `c${i}` })), target });
    targets.push(target);
  }
  const publishMs = performance.now() - start;
  const after = { calls: (await calls()).length, mounts: (await readMountInfo()).length };
  const teardownStart = performance.now();
  for (const target of targets) await manager.unpublish(target);
  const teardownMs = performance.now() - teardownStart;
  return { nfsMounts: after.calls - before.calls, mountsCreated: after.mounts - before.mounts, publishMs, teardownMs };
}

async function mountPerConsumer(dir: string, options: string[], calls: () => Promise<unknown[]>): Promise<Figures> {
  const pods = join(dir, 'per-consumer');
  await mkdir(pods);
  const before = { calls: (await calls()).length, mounts: (await readMountInfo()).length };
  const targets: string[] = [];
  try {
    const start = performance.now();
    for (let i = 0; i < consumers; i++) {
      const target = join(pods, `p${i}`);
      await mkdir(target);
      targets.push(target);
      await mount({ fsType: 'nfs', source: `127.0.0.1:/export/c${i}`, target, options }, 30_000);
    }
    const publishMs = performance.now() - start;
    const after = { calls: (await calls()).length, mounts: (await readMountInfo()).length };
    const teardownStart = performance.now();
    for (const target of targets.splice(0)) await unmount(target, 30_000);
    const teardownMs = performance.now() - teardownStart;
    return { nfsMounts: after.calls - before.calls, mountsCreated: after.mounts - before.mounts, publishMs, teardownMs };
  } finally {
    for (const target of targets) await unmount(target, 30_000).catch(() => {});
  }
}
