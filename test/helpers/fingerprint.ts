import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** One entry of a tree as `fingerprint` saw it. */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  size: number;
  /** sha256 of a file's contents, a symlink's target text, or '' for a directory. */
  digest: string;
}

/**
 * Every entry under `dir` by relative path, with type, mode, size and a sha256 of its contents.
 * Symlinks are recorded, never followed, and mount points are not crossed (a tree holding a
 * mount would otherwise be fingerprinted through it).
 */
export async function fingerprint(dir: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const rootDevice = (await lstat(dir)).dev;
  const walk = async (relative: string): Promise<void> => {
    const names = (await readdir(join(dir, relative))).sort();
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const full = join(dir, path);
      const stats = await lstat(full);
      const mode = stats.mode & 0o7777;
      if (stats.isSymbolicLink()) {
        out.set(path, { type: 'symlink', mode, size: stats.size, digest: sha256(await readlink(full)) });
      } else if (stats.isDirectory()) {
        out.set(path, { type: 'dir', mode, size: 0, digest: '' });
        if (stats.dev === rootDevice) await walk(path);
      } else if (stats.isFile()) {
        out.set(path, { type: 'file', mode, size: stats.size, digest: sha256(await readFile(full)) });
      } else {
        out.set(path, { type: 'other', mode, size: stats.size, digest: '' });
      }
    }
  };
  await walk('');
  return out;
}

/** Paths that `after` lost or changed compared with `before` (additions are not listed). */
export function changedOrRemoved(before: ReadonlyMap<string, TreeEntry>, after: ReadonlyMap<string, TreeEntry>): string[] {
  const problems: string[] = [];
  for (const [path, entry] of before) {
    const now = after.get(path);
    if (!now) problems.push(`removed: ${path}`);
    else if (JSON.stringify(now) !== JSON.stringify(entry)) problems.push(`changed: ${path} ${JSON.stringify(entry)} -> ${JSON.stringify(now)}`);
  }
  return problems;
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
