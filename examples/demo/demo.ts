/**
 * `npm run demo`: a real run of sharemount with the bind backend in a temporary directory.
 * One host directory is the source; 20 consumers publish sub-directories of it (every fourth
 * read-only). The kernel's mount table then shows one share and 20 publications; after 20
 * unpublishes it shows nothing, and the temporary directory is removed.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MountManager, readMountInfo, type MountInfoEntry } from '../../src/index.js';
import { bindBackend } from '../../src/backends/bind.js';

const consumers = 20;

if (process.getuid?.() !== 0) {
  console.error('sharemount demo: mounting needs root (CAP_SYS_ADMIN). Run it as root: sudo npm run demo');
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'sharemount-demo-'));
const hostDir = join(dir, 'host-data');
const pods = join(dir, 'pods');
// The bind backend serves no host directory until it is told which: here, the demo's own.
const manager = new MountManager({ root: join(dir, 'state'), backends: [bindBackend({ allowedPaths: [hostDir] })] });
const source = { backend: 'bind', path: hostDir } as const;

try {
  await mkdir(hostDir);
  await mkdir(pods);
  for (let i = 1; i <= consumers; i++) {
    await mkdir(join(hostDir, `claim-${i}`));
    await writeFile(join(hostDir, `claim-${i}`, 'README'), `data of claim ${i}\n`);
  }
  console.log(`source: ${hostDir} (${consumers} sub-directories)\n`);

  for (let i = 1; i <= consumers; i++) {
    const readOnly = i % 4 === 0;
    const publication = await manager.publish({ source, options: 'nosuid,nodev', subPath: `claim-${i}`, readOnly, target: join(pods, `pod-${i}`) });
    console.log(`publish pod-${String(i).padEnd(2)} -> ${publication.subPath}${readOnly ? ' (read-only)' : ''}`);
  }

  const shares = await manager.list();
  console.log(`\nshares: ${shares.length}, publications: ${shares.reduce((n, s) => n + s.publications.length, 0)}`);
  console.log(`share ${shares[0]?.key}\n  mounted at ${shares[0]?.mountPoint}`);
  printMounts('mount table under the demo dir (from /proc/self/mountinfo)', await mountsUnder(dir));

  for (let i = 1; i <= consumers; i++) {
    const result = await manager.unpublish(join(pods, `pod-${i}`));
    if (result.shareUnmounted) console.log(`\nunpublish pod-${i}: last publication gone, share unmounted`);
  }
  console.log(`unpublished ${consumers} consumers`);
  const left = await mountsUnder(dir);
  printMounts('mount table under the demo dir now', left);
  console.log(`shares left: ${(await manager.list()).length}`);
  if (left.length > 0) process.exitCode = 1;
} finally {
  // Remove the temp tree only when nothing is mounted in it: never delete through a mount.
  if ((await mountsUnder(dir)).length === 0) {
    await rm(dir, { recursive: true, force: true });
    console.log(`removed ${dir}`);
  } else {
    console.error(`left ${dir} in place: something is still mounted under it`);
  }
}

async function mountsUnder(path: string): Promise<MountInfoEntry[]> {
  return (await readMountInfo()).filter((m) => m.mountPoint.startsWith(`${path}/`));
}

function printMounts(title: string, mounts: MountInfoEntry[]): void {
  console.log(`\n${title}: ${mounts.length} mount(s)`);
  for (const m of mounts) {
    const kind = m.mountPoint.endsWith('/mnt') ? 'share      ' : 'publication';
    const ro = m.mountOptions.includes('ro') ? 'ro' : 'rw';
    console.log(`  ${kind} ${ro} ${m.mountPoint.slice(dir.length)}  <- ${m.root}`);
  }
}
