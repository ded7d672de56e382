import { AsyncLocalStorage } from 'node:async_hooks';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { E_TIMEOUT, Mutex, withTimeout } from 'async-mutex';
import { SharemountError } from './errors.js';
import { describeHolders, lockHolders } from './lock-holder.js';

/**
 * Mutual exclusion per key, within this process and across processes.
 *
 * In process: one async-mutex per key (FIFO, no polling). Across processes: the holder binds a
 * unix socket in the abstract namespace, named from the lock's scope and key, and keyed with a
 * secret when there is one (the state root's key): abstract names carry no permissions, so a
 * name nobody can compute is one nobody can take before it is used. Binding is atomic
 * and exclusive, and the kernel frees the name the instant the holder dies, even by SIGKILL: a
 * crashed holder never blocks anyone, with no stale-lock guessing and no lock file left to
 * break (breaking a stale lock file safely needs a compare-and-swap the filesystem lacks).
 * Every process that shares a state root must share a network namespace (hostNetwork pods).
 *
 * Commands run with `inheritLocks` while a lock is held inherit its socket (see `heldLockFds`):
 * should this process die while such a `mount` runs, the lock stays held until that `mount` has
 * finished too, so nobody (reconcile above all) can look at the share halfway through a change.
 */
export class KeyedLock {
  private readonly mutexes = new Map<string, { mutex: Mutex; users: number }>();

  private readonly timeoutMs: number;

  /**
   * @param scope identifies the state root (its device and inode), so two roots never contend.
   * @param secret keys the names (an HMAC); every process sharing the locks must have the same one.
   */
  constructor(
    private readonly scope: string,
    timeoutMs: number,
    private readonly secret?: Buffer,
  ) {
    // The in-process wait is a timer, and Node fires a longer one at once: sums of backend
    // bounds (twice mkfsMs...) can pass it.
    this.timeoutMs = Math.min(timeoutMs, 2 ** 31 - 1);
  }

  withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.withLocks([key], work);
  }

  /**
   * Holds every lock in `keys` for one piece of work: the same as nesting `withLock` in that
   * order (so callers keep one order, a target's before a share's), in one step.
   */
  async withLocks<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const slots = keys.map((key) => {
      const slot = this.mutexes.get(key) ?? { mutex: new Mutex(), users: 0 };
      slot.users++;
      this.mutexes.set(key, slot);
      return slot;
    });
    const releases: Array<() => void> = [];
    const servers: Server[] = [];
    try {
      for (const [index, slot] of slots.entries()) releases.push(lockAtOnce(slot.mutex) ?? (await this.acquireInProcess(slot.mutex, keys[index]!)));
      for (const key of keys) servers.push(bindAtOnce(this.socketName(key)) ?? (await this.acquireAcrossProcesses(key)));
      return await held.run([...(held.getStore() ?? []), ...servers.map(socketFd)], work);
    } finally {
      for (const server of servers) server.close();
      for (const release of releases.reverse()) release();
      for (const [index, key] of keys.entries()) if (--slots[index]!.users === 0) this.mutexes.delete(key);
    }
  }

  // A hash per acquisition costs tens of microseconds right after a spawn: names are kept,
  // a bounded number of them (a long-lived process meets many targets).
  private readonly names = new Map<string, string>();

  private socketName(key: string): string {
    let name = this.names.get(key);
    if (name === undefined) {
      const hash = this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
      name = `\0sharemount/${hash.update(this.scope).update('\0').update(key).digest('hex').slice(0, 48)}`;
      if (this.names.size >= 4096) this.names.clear();
      this.names.set(key, name);
    }
    return name;
  }

  // A waiter that gives up leaves the queue when its turn comes (async-mutex releases it at once),
  // so the holder and those behind it are not disturbed.
  private async acquireInProcess(mutex: Mutex, key: string): Promise<() => void> {
    try {
      return await withTimeout(mutex, this.timeoutMs).acquire();
    } catch (error) {
      if (error !== E_TIMEOUT) throw error;
      throw new SharemountError('BUSY', `waited longer than ${this.timeoutMs} ms behind other operations of this process for the lock for ${key}`, { details: { key } });
    }
  }

  private async acquireAcrossProcesses(key: string): Promise<Server> {
    const name = this.socketName(key);
    const deadline = Date.now() + this.timeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 25)) {
      const server = await tryBind(name);
      if (server) return server;
      if (Date.now() >= deadline) {
        const holders = await lockHolders(name);
        throw new SharemountError('BUSY', `another process held the lock for ${key} longer than ${this.timeoutMs} ms${describeHolders(holders)}`, { details: { key, holders } });
      }
      await sleep(delay);
    }
  }
}

/*
 * The common case, a lock nobody else wants, is taken synchronously: no timer, no wait for a
 * promise. That is most of what two locks cost a publication in a process that has just
 * spawned a command (its caches cold).
 */

/** Locks a free mutex on the spot; undefined when it is held (the caller waits its turn). */
function lockAtOnce(mutex: Mutex): (() => void) | undefined {
  if (mutex.isLocked()) return undefined;
  void mutex.acquire(); // takes a free mutex synchronously; only its releaser would come later
  return () => mutex.release();
}

/** Binds a free name on the spot; undefined when that failed (tryBind then says why). */
export function bindAtOnce(name: string): Server | undefined {
  const server = listenOn(name);
  if (server.listening) return server;
  server.on('error', () => {}); // the refusal, on the next tick: tryBind meets it again
  return undefined;
}

/**
 * Binds the name: the server when it is ours, undefined when another process holds it.
 */
export async function tryBind(name: string): Promise<Server | undefined> {
  const server = listenOn(name);
  if (server.listening) return server;
  // Emitted on the next tick: listening for it now is in time.
  const [error] = (await once(server, 'error')) as [NodeJS.ErrnoException];
  if (error.code === 'EADDRINUSE') return undefined;
  throw error;
}

/**
 * Node binds inside listen() itself, so `listening` says at once whether the name was free;
 * only a refusal comes later, as an error event that says why. `exclusive`: in a cluster worker
 * too (which would otherwise ask the primary, later, for a shared handle).
 */
function listenOn(name: string): Server {
  const server = createServer();
  server.listen({ path: name, exclusive: true });
  if (server.listening) server.unref(); // a held lock must not keep a finished process alive
  return server;
}

const held = new AsyncLocalStorage<number[]>();

/** File descriptors of the locks the current async context holds, for child processes to inherit. */
export function heldLockFds(): readonly number[] {
  return held.getStore() ?? [];
}

function socketFd(server: Server): number {
  // Node keeps the listening socket's descriptor on its handle; it is not part of the typed API.
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('lock socket has no file descriptor');
  return fd;
}
