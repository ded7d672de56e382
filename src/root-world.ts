import { closeSync, constants, fstatSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { SharemountError } from './errors.js';
import { run } from './exec.js';

/**
 * One root, one world (invariant 11; docs/locking.md#one-root-one-world).
 *
 * Every process using a state root must see the same mounts (one mount namespace: reconcile
 * judges references against its own mount table) and take locks that exclude each other (one
 * network namespace: the locks are abstract unix sockets). A process's *world* is that pair of
 * namespaces. The root keeps one FIFO per world in `_worlds/`, named by the namespaces'
 * inode numbers; each process that uses the root holds its world's FIFO open for reading for
 * the rest of its life. A world is alive exactly while some process holds its FIFO: opening a
 * FIFO for writing without blocking fails with ENXIO when nobody has it open for reading, and
 * the kernel closes a dead process's descriptors however it died, in any namespace. So:
 *
 *  - a process joins unless a FIFO of another world is alive; then it is refused
 *    (FAILED_PRECONDITION naming `root`) before it touches anything;
 *  - it opens its own world's FIFO, then looks at the others again: of two worlds joining at
 *    once at least one sees the other (each opens its own before it looks), so both may be
 *    refused, never both let in;
 *  - processes of one world never refuse each other (FlexVolume calls, all in the host's
 *    namespaces; a CSI plugin restarted in the same container);
 *  - a plugin restarted into new namespaces (a new container, the same root through a host
 *    path) takes the root over as soon as the old container's processes are gone: no lease to
 *    wait out, no clock.
 */
const worldsDir = '_worlds';
const worldName = /^mnt-(\d+)-net-(\d+)$/;

export interface World {
  /** Inode number of the mount namespace (/proc/self/ns/mnt). */
  mnt: string;
  /** Inode number of the network namespace. */
  net: string;
}

export function currentWorld(): World {
  return { mnt: namespaceInode('mnt'), net: namespaceInode('net') };
}

function namespaceInode(kind: 'mnt' | 'net'): string {
  const link = readlinkSync(`/proc/self/ns/${kind}`);
  const inode = /\[(\d+)\]$/.exec(link)?.[1];
  if (inode === undefined) throw new Error(`unexpected /proc/self/ns/${kind}: ${link}`);
  return inode;
}

/**
 * The tag a reference carries of where its publication was made: the boot and the mount
 * namespace. Reconcile drops a reference whose publication it cannot see only when the tag is
 * its own (or from an earlier boot): one made in another namespace may be alive there.
 */
export function placeTag(): string {
  return `${bootId()}/${namespaceInode('mnt')}`;
}

/** Whether a reference's tag names another mount namespace of this boot (see `placeTag`). */
export function madeInAnotherNamespace(tag: string | undefined): boolean {
  if (tag === undefined) return false; // made before tags were kept: judged as before
  const [boot, mnt] = tag.split('/');
  return boot === bootId() && mnt !== namespaceInode('mnt');
}

let boot: string | undefined;
function bootId(): string {
  boot ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return boot;
}

/** Roots this process has joined: the descriptor of its world's FIFO, open until it exits. */
const joined = new Map<string, number>();

/**
 * Joins the root for this process's world, or refuses (see above). `root` is the real path of
 * an existing directory. Costs a readdir and an open per world known to the root; the FIFO of
 * a new world is made once, by mkfifo(1) (Node has no mkfifo).
 */
export async function joinRoot(root: string, commandMs: number): Promise<void> {
  if (joined.has(root)) return;
  const world = currentWorld();
  const own = `mnt-${world.mnt}-net-${world.net}`;
  const dir = join(root, worldsDir);
  // First a look without making anything: a refused process leaves no trace.
  refuseIfOthersAlive(root, dir, own, world);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotUse(root, error);
  }
  for (let attempt = 0; ; attempt++) {
    const fd = await openOwn(root, join(dir, own), commandMs);
    try {
      refuseIfOthersAlive(root, dir, own, world, { removeDead: true });
      // Still the FIFO at that name? A process that found it dead may have removed it just
      // before we opened it; one held by nobody else is then ours to make again.
      const held = fstatSync(fd);
      const named = statSync(join(dir, own), { throwIfNoEntry: false });
      if (named !== undefined && named.ino === held.ino && named.dev === held.dev) {
        joined.set(root, fd);
        return;
      }
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    closeSync(fd);
    if (attempt >= 3) throw cannotUse(root, new Error('its world FIFO keeps being replaced'));
  }
}

/** Opens (making it when missing) this world's FIFO for reading, without blocking. */
async function openOwn(root: string, path: string, commandMs: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      if (!fstatSync(fd).isFIFO()) {
        closeSync(fd);
        throw cannotUse(root, new Error(`${path} is not a FIFO`));
      }
      return fd;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error instanceof SharemountError ? error : cannotUse(root, error);
    }
    // Made under a temporary name, then linked into place: a name that exists is never replaced
    // (another process of this world may hold it already).
    const temp = `${path}.${process.pid}.tmp`;
    await run('mkfifo', ['-m', '0600', '--', temp], { timeoutMs: commandMs }).catch((error: unknown) => {
      throw cannotUse(root, error);
    });
    try {
      linkSync(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotUse(root, error);
    } finally {
      unlinkSync(temp);
    }
  }
}

function refuseIfOthersAlive(root: string, dir: string, own: string, world: World, { removeDead = false } = {}): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw cannotUse(root, error);
  }
  for (const name of names) {
    const match = worldName.exec(name);
    if (match === null || name === own) continue;
    const path = join(dir, name);
    const state = liveness(path);
    if (state === 'alive') throw inUse(root, world, { mnt: match[1]!, net: match[2]! });
    // Safe while we hold our own: a process of that world opening it now sees us and refuses.
    if (state === 'dead' && removeDead) {
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    }
  }
}

/** A FIFO with a reader is alive; one without (ENXIO) is dead; anything else is not a world. */
function liveness(path: string): 'alive' | 'dead' | 'none' {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENXIO' ? 'dead' : 'none';
  }
  try {
    return fstatSync(fd).isFIFO() ? 'alive' : 'none';
  } finally {
    closeSync(fd);
  }
}

function inUse(root: string, own: World, other: World): SharemountError {
  const differs = [other.mnt !== own.mnt ? `mount namespace (mnt:[${other.mnt}], this process mnt:[${own.mnt}])` : '', other.net !== own.net ? `network namespace (net:[${other.net}], this process net:[${own.net}])` : '']
    .filter(Boolean)
    .join(' and ');
  return new SharemountError(
    'FAILED_PRECONDITION',
    `root: the state root ${root} is in use by a running process in another ${differs}: its mounts are not all visible here, or its locks do not exclude this process's, so sharing the root would corrupt it. ` +
      'Give each its own root (the root option; SHAREMOUNT_ROOT for a FlexVolume driver), or run both in the same namespaces (a CSI node plugin with hostNetwork: true and the root mounted with Bidirectional propagation); a plugin restarted into new namespaces takes the root over once the old one has exited',
    { field: 'root', details: { root, mnt: other.mnt, net: other.net } },
  );
}

function cannotUse(root: string, error: unknown): SharemountError {
  const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new SharemountError('FAILED_PRECONDITION', `root: the state root ${root} cannot be used (${why})`, { field: 'root', cause: error });
}
