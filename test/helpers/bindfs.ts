import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { MountManager } from '../../src/mount-manager.js';
import { mountsUnder, unmountEverythingUnder, type Sandbox } from './sandbox.js';
import { exited } from './processes.js';

/** Whether FUSE mounts with bindfs can be made here. */
export function bindfsAvailable(): boolean {
  return existsSync('/dev/fuse') && ['/usr/bin/bindfs', '/bin/bindfs', '/usr/local/bin/bindfs'].some((path) => existsSync(path));
}

/** A bindfs FUSE mount whose daemon the test controls by PID (to kill or stop it). */
export interface BindfsMount {
  mountPoint: string;
  daemon: ChildProcess;
  pid: number;
}

/**
 * Mounts `source` at `mountPoint` with bindfs running in the foreground as our child, so its
 * PID is the daemon's: `kill -9` makes the mount stale (ENOTCONN), `kill -STOP` makes it hang.
 * The daemon is tracked by the sandbox, which kills it on cleanup.
 */
export async function startBindfs(sandbox: Sandbox, source: string, mountPoint: string): Promise<BindfsMount> {
  await mkdir(mountPoint, { recursive: true });
  const daemon = sandbox.track(spawn('bindfs', ['-f', '--no-allow-other', source, mountPoint], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  daemon.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // Wait for the kernel to show the mount (bounded: a bindfs that never mounts is a failure).
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await mountsUnder(mountPoint)).some((m) => m.mountPoint === mountPoint && m.fsType.startsWith('fuse'))) {
      return { mountPoint, daemon, pid: daemon.pid! };
    }
    if (daemon.exitCode !== null) break;
    await sleep(25);
  }
  throw new Error(`bindfs did not mount ${mountPoint}: ${stderr}`);
}

/** Ends a bindfs mount whatever state its daemon is in: SIGCONT, SIGKILL, then a lazy unmount by path. */
export async function stopBindfs(mount: BindfsMount): Promise<void> {
  if (mount.daemon.exitCode === null && mount.daemon.signalCode === null) {
    process.kill(mount.pid, 'SIGCONT');
    process.kill(mount.pid, 'SIGKILL');
    await exited(mount.daemon);
  }
  await execa('umount', ['--lazy', '--no-canonicalize', '--', mount.mountPoint], { reject: false, timeout: 10_000 });
}

/**
 * Undoes whatever a test on FUSE shares left, even a failing one: ends its bindfs daemons first
 * (a stopped one would hang what follows), unpublishes every publication, lets reconcile release
 * what is still held, then unmounts anything left under the pods and the state root.
 */
export async function clearAfterBindfsTest(manager: MountManager, sandbox: Sandbox, daemons: Iterable<BindfsMount>): Promise<void> {
  for (const daemon of daemons) await stopBindfs(daemon);
  for (const share of await manager.list()) for (const p of share.publications) await manager.unpublish(p.target).catch(() => {});
  await manager.reconcile().catch(() => {});
  await unmountEverythingUnder(sandbox.pods);
  await unmountEverythingUnder(sandbox.root);
}

/**
 * Probes `path` with stat(1) in a child process, killed after `timeoutMs` (a hung FUSE mount
 * blocks the caller: never stat such a path from the test process itself).
 */
export async function probe(path: string, timeoutMs = 3000): Promise<{ hung: boolean; ok: boolean; stderr: string }> {
  const result = await execa('stat', ['--', path], { reject: false, timeout: timeoutMs, killSignal: 'SIGKILL', env: { LC_ALL: 'C' } });
  return { hung: result.timedOut === true, ok: result.exitCode === 0, stderr: String(result.stderr ?? '') };
}
