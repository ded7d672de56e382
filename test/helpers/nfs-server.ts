import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

/** An nfs-ganesha server on 127.0.0.1 that a test started and must stop. */
export interface NfsServer {
  host: '127.0.0.1';
  port: number;
  /** The NFS path clients mount (ganesha's pseudo path). */
  exportPath: string;
  /** The local directory the server exports: what a client sees at `exportPath`. */
  exportDir: string;
  /** Mount options that reach this server (its port). */
  mountOptions: string[];
  pid: number;
  /** A libnfs URL for `nfs-ls` / `nfs-cat`, `sub` relative to the export. */
  url(sub?: string): string;
  /** Lists a directory of the export through the NFS protocol (nfs-ls), names only. */
  list(sub?: string): Promise<string[]>;
  /** `nfs-ls` lines (`drwxr-xr-x 2 uid gid size name`) of a directory, keyed by name. */
  listLong(sub?: string): Promise<Map<string, { mode: string; uid: number; gid: number }>>;
  /** Freezes the server (SIGSTOP): it keeps its sockets and never answers, like a hung filer. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** NFS versions to serve; 3 needs rpcbind, started (and cleaned up) here only if none runs. */
  versions?: ReadonlyArray<3 | 4>;
}

/** Commands the NFS tests need; empty when all are present. */
export function missingNfsPrerequisites(): string[] {
  const needed = ['/usr/bin/ganesha.nfsd', '/usr/bin/nfs-ls', '/usr/bin/bindfs'];
  const missing = needed.filter((p) => !existsSync(p));
  if (!existsSync('/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so') && !existsSync('/usr/lib/ganesha/libfsalvfs.so')) missing.push('nfs-ganesha-vfs');
  if (process.getuid?.() !== 0) missing.push('root');
  return missing;
}

/** Starts ganesha on a free loopback port with a fresh export directory; waits until nfs-ls answers. */
export async function startNfsServer(options: StartOptions = {}): Promise<NfsServer> {
  const versions = options.versions ?? [4];
  const dir = await mkdtemp(join(tmpdir(), 'sharemount-ganesha-'));
  const exportDir = join(dir, 'export');
  await mkdir(exportDir);
  await mkdir(join(dir, 'recovery'));
  const port = await freePort();
  const protocols = versions.join(', ');
  // Caching is off (no attribute expiry, no directory chunks): the mount.nfs seam writes to the
  // export directory locally, behind ganesha's back, and NFS clients must still see it at once.
  // Numeric owners let nfs-ls show uid/gid without an idmapper.
  await writeFile(
    join(dir, 'ganesha.conf'),
    `NFS_CORE_PARAM { Bind_addr = 127.0.0.1; NFS_Port = ${port}; Protocols = ${protocols};
  Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; Mount_Path_Pseudo = true; }
NFSV4 { Graceless = true; Only_Numeric_Owners = true; RecoveryRoot = ${join(dir, 'recovery')}; Minor_Versions = 0, 1, 2; }
EXPORT { Export_Id = 1; Path = ${exportDir}; Pseudo = /export; Access_Type = RW;
  Squash = No_Root_Squash; SecType = sys; Protocols = ${protocols}; Transports = TCP; Attr_Expiration_Time = 0; FSAL { Name = VFS; } }
MDCACHE { Dir_Chunk = 0; }
`,
  );
  const rpcbind = versions.includes(3) && !existsSync('/run/rpcbind.sock') ? spawn('rpcbind', ['-f'], { stdio: 'ignore' }) : undefined;
  const ganesha = spawn('ganesha.nfsd', ['-F', '-f', join(dir, 'ganesha.conf'), '-L', join(dir, 'ganesha.log'), '-p', join(dir, 'ganesha.pid')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => ganesha.once('exit', () => resolve()));
  const server: NfsServer = {
    host: '127.0.0.1',
    port,
    exportPath: '/export',
    exportDir,
    mountOptions: [`port=${port}`, 'vers=4.1'],
    pid: ganesha.pid!,
    url: (sub = '') => `nfs://127.0.0.1/export${sub === '' ? '' : `/${sub}`}?version=4&nfsport=${port}`,
    async list(sub) {
      return [...(await this.listLong(sub)).keys()];
    },
    async listLong(sub) {
      const { stdout } = await execa('nfs-ls', [this.url(sub)], { timeout: 10_000 });
      const entries = new Map<string, { mode: string; uid: number; gid: number }>();
      for (const line of stdout.split('\n').filter(Boolean)) {
        const match = /^(\S+)\s+\d+\s+(\d+)\s+(\d+)\s+\d+\s+(.+)$/.exec(line);
        if (match) entries.set(match[4]!, { mode: match[1]!, uid: Number(match[2]), gid: Number(match[3]) });
      }
      return entries;
    },
    pause: () => ganesha.kill('SIGSTOP'),
    resume: () => ganesha.kill('SIGCONT'),
    async stop() {
      await stopProcess(ganesha, exited);
      if (rpcbind) {
        await stopProcess(rpcbind, new Promise((resolve) => (rpcbind.exitCode !== null ? resolve() : rpcbind.once('exit', () => resolve()))));
        // rpcbind leaves its state behind; remove it only because this helper started it.
        await Promise.all(['/run/rpcbind.sock', '/run/rpcbind.lock', '/run/rpcbind/rpcbind.xdr', '/run/rpcbind/portmap.xdr'].map((f) => rm(f, { force: true })));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntilServing(server, exited);
  } catch (error) {
    const log = await readFile(join(dir, 'ganesha.log'), 'utf8').catch(() => '');
    await server.stop();
    throw new Error(`nfs-ganesha did not start: ${String(error)}\n${log.slice(-2000)}`);
  }
  return server;
}

async function waitUntilServing(server: NfsServer, exited: Promise<void>): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (dead) throw new Error('ganesha.nfsd exited');
    const probe = await execa('nfs-ls', [server.url()], { timeout: 3_000, reject: false });
    if (probe.exitCode === 0) return;
    if (Date.now() > deadline) throw new Error(`nfs-ls never answered: ${probe.stderr}`);
    await sleep(50);
  }
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT'); // a paused server cannot act on SIGTERM
  child.kill('SIGTERM');
  const done = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
  if (!done) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** A TCP port nobody listens on now (the kernel picks it), for the server to bind. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
