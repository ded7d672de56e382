import { chmod, mkdtemp, readFile, readlink, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { NfsServer } from './nfs-server.js';

/** One run of mount.nfs as the seam saw it. */
export interface MountNfsCall {
  /** `mount.nfs` or `mount.nfs4`. */
  program: string;
  device: string;
  target: string;
  /** The `-o` value as mount(8) passed it (`rw` or `ro` first). */
  options: string;
  argv: string[];
}

/** The kernel NFS client's stand-in, installed for this mount namespace only. */
export interface MountNfsSeam {
  /** Every mount.nfs call so far, in order. */
  calls(): Promise<MountNfsCall[]>;
  /** Tells the seam which local directory a server exports (done by `installMountNfsSeam`). */
  addServer(server: NfsServer): Promise<void>;
  /** Fuse mode: PIDs of the bindfs processes standing in for the client, with their mount points. */
  clients(): Promise<Array<{ pid: number; target: string }>>;
  /** Fuse mode: every client mount stops answering (SIGSTOP), as a hard mount of a dead server does. */
  hangClients(): Promise<void>;
  /** Undoes everything: the bind over mount.nfs, the fuse clients (by PID), the state dir. */
  uninstall(): Promise<void>;
}

export type SeamMode = 'bind' | 'fuse';

const helperSource = fileURLToPath(new URL('./mount-nfs-helper.sh', import.meta.url));
const mountNfs = '/usr/sbin/mount.nfs';

/**
 * Bind-mounts the helper over /usr/sbin/mount.nfs (mount.nfs4 links to it), so that the
 * library's unchanged `mount -t nfs` reaches it. Refuses to run in the host's mount namespace:
 * the bind must vanish with the test's private namespace, never shadow the host's mount.nfs.
 */
export async function installMountNfsSeam(servers: readonly NfsServer[], mode: SeamMode = 'bind'): Promise<MountNfsSeam> {
  if (!(await inPrivateMountNamespace())) {
    throw new Error('the mount.nfs seam needs a private mount namespace: run under `unshare --mount --propagation private`');
  }
  const state = await mkdtemp(join(tmpdir(), 'sharemount-seam-'));
  const helper = join(state, 'mount.nfs');
  await writeFile(helper, (await readFile(helperSource, 'utf8')).replace('@STATE_DIR@', state));
  await chmod(helper, 0o755);
  await writeFile(join(state, 'mode'), mode);
  await writeFile(join(state, 'exports'), '');
  await writeFile(join(state, 'argv.log'), '');
  await writeFile(join(state, 'fuse.pids'), '');
  await execa('mount', ['--bind', '--', helper, mountNfs]);

  const seam: MountNfsSeam = {
    async calls() {
      const text = await readFile(join(state, 'argv.log'), 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [program = '', ...argv] = line.split('\t');
          const o = argv.indexOf('-o');
          return { program, device: argv[0] ?? '', target: argv[1] ?? '', options: o === -1 ? '' : (argv[o + 1] ?? ''), argv };
        });
    },
    async addServer(server) {
      await appendFile(join(state, 'exports'), `${server.port}\t${server.exportPath}\t${server.exportDir}\n`);
    },
    async clients() {
      const text = await readFile(join(state, 'fuse.pids'), 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [pid, target] = line.split('\t');
          return { pid: Number(pid), target: target ?? '' };
        });
    },
    async hangClients() {
      for (const { pid } of await seam.clients()) signal(pid, 'SIGSTOP');
    },
    async uninstall() {
      for (const { pid, target } of await seam.clients()) {
        signal(pid, 'SIGCONT');
        signal(pid, 'SIGTERM');
        await execa('umount', ['--lazy', '--', target], { reject: false });
      }
      await execa('umount', ['--', mountNfs], { reject: false });
      await rm(state, { recursive: true, force: true });
    },
  };
  for (const server of servers) await seam.addServer(server);
  return seam;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Whether some ancestor process lives in another mount namespace, i.e. this process (or one of
 * its ancestors) called unshare: binding over mount.nfs is then invisible to the host.
 */
async function inPrivateMountNamespace(): Promise<boolean> {
  const own = await readlink('/proc/self/ns/mnt');
  let pid = process.ppid;
  for (let depth = 0; depth < 64 && pid > 1; depth++) {
    const theirs = await readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
    if (theirs === undefined) return false;
    if (theirs !== own) return true;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  }
  return false;
}
