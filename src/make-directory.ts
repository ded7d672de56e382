import { lstat, mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SharemountError } from './errors.js';

/**
 * Makes the directory `path` and its missing parents, one `mkdir` per missing name: at most as
 * many calls as the path has names. Node's recursive `mkdir` is no bounded operation: where a
 * filesystem answers ENOENT to a `mkdir` in a directory that exists (procfs: `/proc/x/y`), it
 * retries the parent forever. A directory that cannot be made, or a name on the way that is
 * not a directory, fails at once with FAILED_PRECONDITION naming `field` (`what` says what it is).
 */
export async function makeDirectories(path: string, mode: number, field: string, what = path): Promise<void> {
  const missing: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    const found = await lstat(dir).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false;
        throw cannotMake(field, what, error.code);
      },
    );
    if (found) {
      // A symlink on the way is followed, as mkdir -p does; what it leads to must be a directory.
      const isDirectory = await stat(dir).then((s) => s.isDirectory(), () => false);
      if (!isDirectory) throw cannotMake(field, what, `${dir} is not a directory`);
      break;
    }
    missing.push(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir, { mode }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return; // made meanwhile by another process; checked below
      throw cannotMake(field, what, error.code);
    });
  }
  if (missing.length > 0 && !(await stat(path).then((s) => s.isDirectory(), () => false))) throw cannotMake(field, what, 'not a directory');
}

function cannotMake(field: string, what: string, why: string | undefined): SharemountError {
  return new SharemountError('FAILED_PRECONDITION', `${field}: ${what} cannot be created (${why ?? 'unknown error'})`, { field });
}
