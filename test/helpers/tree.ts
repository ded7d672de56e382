import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile, link, chown, chmod, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../src/exec.js';

/** One entry of a tree as a copy must keep it: type, mode, owner, times, size, contents, device number, hard-link group. */
export interface CopiedEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size: number;
  digest: string;
  rdev: number;
  /** The first path (sorted) of the same inode, when the entry has other links in the tree. */
  linkOf: string | undefined;
}

/**
 * Every entry under `dir` (the top directory itself as ''), file by file: what `cp -a` promises
 * to keep. Symlinks are read, never followed; special files are never opened.
 */
export async function describeTree(dir: string): Promise<Map<string, CopiedEntry>> {
  const out = new Map<string, CopiedEntry>();
  const firstOfInode = new Map<bigint, string>();
  const visit = async (relative: string): Promise<void> => {
    const full = relative === '' ? dir : join(dir, relative);
    const stats = await lstat(full, { bigint: true });
    const type = stats.isSymbolicLink() ? 'symlink' : stats.isDirectory() ? 'dir' : stats.isFile() ? 'file' : stats.isFIFO() ? 'fifo' : stats.isSocket() ? 'socket' : stats.isCharacterDevice() ? 'char' : stats.isBlockDevice() ? 'block' : 'other';
    let linkOf: string | undefined;
    if (type !== 'dir' && stats.nlink > 1n) {
      linkOf = firstOfInode.get(stats.ino);
      if (linkOf === undefined) firstOfInode.set(stats.ino, relative);
    }
    const digest = type === 'file' ? sha256(await readFile(full)) : type === 'symlink' ? sha256(await readlink(full)) : '';
    // A symlink's own times are kept by cp -a too; a directory's size is the filesystem's business.
    out.set(relative, { type, mode: Number(stats.mode & 0o7777n), uid: Number(stats.uid), gid: Number(stats.gid), mtimeNs: String(stats.mtimeNs), size: type === 'dir' ? 0 : Number(stats.size), digest, rdev: Number(stats.rdev), linkOf });
    if (type === 'dir') for (const name of (await readdir(full)).sort()) await visit(relative === '' ? name : `${relative}/${name}`);
  };
  await visit('');
  return out;
}

/**
 * A tree with everything a copy can get wrong: odd modes (setgid directory, sticky, 0600), other
 * owners, old times, a hard link, symlinks (relative, absolute, dangling, to `/`, climbing out
 * with `../..`), a FIFO, a character device (a copy of /dev/zero's number: reading it would
 * never end), a unix socket, an empty directory and a file with a newline in its name.
 */
export async function writeHostileTree(dir: string): Promise<void> {
  await mkdir(join(dir, 'sub/deeper/empty'), { recursive: true });
  await writeFile(join(dir, 'sub/deeper/data.bin'), Buffer.alloc(70_000, 7));
  await writeFile(join(dir, 'secret'), 'only the owner');
  await chmod(join(dir, 'secret'), 0o600);
  await chown(join(dir, 'secret'), 1234, 5678);
  await writeFile(join(dir, 'line\nbreak'), 'odd name');
  await link(join(dir, 'sub/deeper/data.bin'), join(dir, 'hardlink.bin'));
  await chmod(join(dir, 'sub'), 0o2775);
  await chown(join(dir, 'sub'), 1000, 1000);
  await mkdir(join(dir, 'shared'), { mode: 0o1777 });
  await chmod(join(dir, 'shared'), 0o1777);
  await symlink('/', join(dir, 'to-root'));
  await symlink('../..', join(dir, 'sub/climb'));
  await symlink('/etc/shadow', join(dir, 'shadow'));
  await symlink('nowhere', join(dir, 'dangling'));
  await symlink('deeper/data.bin', join(dir, 'sub/relative'));
  await run('mkfifo', ['--', join(dir, 'fifo')], { timeoutMs: 10_000 });
  await run('mknod', ['--', join(dir, 'zero'), 'c', '1', '5'], { timeoutMs: 10_000 });
  await run('python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', join(dir, 'socket')], { timeoutMs: 10_000 });
  await utimes(join(dir, 'sub/deeper/data.bin'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
}

/** `count` small files in 100 directories (a volume with many files). */
export async function writeManyFiles(dir: string, count: number, bytesEach = 64): Promise<void> {
  for (let d = 0; d < 100; d++) await mkdir(join(dir, `d${d}`), { recursive: true });
  const body = Buffer.alloc(bytesEach, 1);
  for (let start = 0; start < count; start += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - start) }, (_, i) => writeFile(join(dir, `d${(start + i) % 100}`, `f${start + i}`), body)));
  }
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
