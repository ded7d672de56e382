import { readFile, readdir, readlink } from 'node:fs/promises';

/** A process that has a lock's socket open. */
export interface LockHolder {
  pid: number;
  uid: number | undefined;
  /** The process's name (`/proc/<pid>/comm`), never its command line: a mount's may hold a secret option. */
  command: string | undefined;
}

/**
 * The processes holding an abstract socket name, for a BUSY error to say who is in the way (a
 * hung `mount` that inherited the lock, or a process that should not have the name at all): the
 * socket's inode from /proc/net/unix, then every /proc/<pid>/fd link to it. Best effort, at most
 * `limit` of them, found within `withinMs` (a node may have thousands of processes); [] when the
 * name is free by now or /proc cannot tell. Only called once a wait has already failed, so the
 * walk over /proc costs nothing on the normal path.
 */
export async function lockHolders(name: string, { limit = 3, withinMs = 500 } = {}): Promise<LockHolder[]> {
  const until = Date.now() + withinMs;
  try {
    const shown = `@${name.slice(1)}`; // /proc/net/unix shows an abstract name's leading NUL as @
    const line = (await readFile('/proc/net/unix', 'utf8')).split('\n').find((l) => l.endsWith(` ${shown}`));
    const inode = line?.trim().split(/\s+/)[6];
    if (inode === undefined) return [];
    const link = `socket:[${inode}]`;
    const holders: LockHolder[] = [];
    for (const entry of await readdir('/proc')) {
      if (holders.length >= limit || Date.now() > until) break;
      if (!/^\d+$/.test(entry)) continue;
      const fds = await readdir(`/proc/${entry}/fd`).catch(() => []);
      for (const fd of fds) {
        if ((await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '')) !== link) continue;
        holders.push(await describe(Number(entry)));
        break;
      }
    }
    return holders;
  } catch {
    return [];
  }
}

async function describe(pid: number): Promise<LockHolder> {
  const [status, comm] = await Promise.all([readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/comm`, 'utf8').catch(() => undefined)]);
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  return { pid, uid: uid === undefined ? undefined : Number(uid), command: comm?.trim() };
}

/** ` (held by pid 123, uid 0, "mount")`, or nothing when no holder was found. */
export function describeHolders(holders: readonly LockHolder[]): string {
  if (holders.length === 0) return '';
  const each = holders.map((h) => `pid ${h.pid}${h.uid === undefined ? '' : `, uid ${h.uid}`}${h.command === undefined ? '' : `, ${JSON.stringify(h.command)}`}`);
  return ` (held by ${each.join('; ')})`;
}
