import type { FlexVolumeDriverOptions } from './driver-options.js';
import { serveVariable, type HelperOutcome, type Launch } from './helper-protocol.js';
import type { FileLogger } from './log-file.js';

/** The launcher's outcomes after which no helper is serving this driver's socket. */
const noHelperServing: readonly HelperOutcome[] = ['absent', 'lost', 'declined:stale', 'declined:environment', 'declined:namespace'];

/** Whether a call answered in this process should start a helper for the calls after it. */
export function helperWanted(driver: FlexVolumeDriverOptions, launch: Launch): boolean {
  return driver.residentHelper !== false && launch.mode === 'call' && launch.socket !== undefined && launch.outcome !== undefined && noHelperServing.includes(launch.outcome);
}

/**
 * Starts this executable again as the resident helper, after the reply is out: detached in its
 * own session (kubelet waits for the call's output pipes to close, so the helper holds none of
 * them: its stdio is /dev/null), with this call's environment, and nothing waited for. Two calls
 * that start one each are fine: only one can hold the helper's start lock (helper-server.ts).
 * node:child_process and not execa: this is not a command whose result is read, and a call
 * that starts a helper must not wait for, or fail with, anything the helper does.
 */
export async function startHelper(launch: Launch, logger: FileLogger | undefined): Promise<void> {
  if (launch.socket === undefined) return;
  // Loaded here, not at import: `init` and usage errors load nothing they do not use.
  const { spawn } = process.getBuiltinModule('node:child_process');
  const { bindAtOnce } = await import('../lock.js');
  // When many calls find no helper at once (a node starting its pods), the first one's helper
  // holds the start lock within milliseconds: the calls after it start none (each would only
  // start a whole process to find the lock taken). A free name is released again on the spot.
  const probe = bindAtOnce(startLockName(launch.socket));
  if (probe === undefined) return;
  probe.close();
  try {
    const child = spawn(process.execPath, [], {
      detached: true,
      stdio: 'ignore',
      cwd: '/',
      env: { ...process.env, [serveVariable]: '1' },
    });
    child.on('error', (error) => logger?.warn({ error: error.message }, 'could not start the resident helper'));
    child.unref();
    logger?.info({ socket: launch.socket, outcome: launch.outcome, helperPid: child.pid }, 'started the resident helper');
  } catch (error) {
    logger?.warn({ error: error instanceof Error ? error.message : String(error) }, 'could not start the resident helper');
  }
}

/** The abstract unix name that only one helper of a socket can hold (helper-server.ts). */
export function startLockName(socket: string): string {
  const { createHash } = process.getBuiltinModule('node:crypto');
  return `\0sharemount-helper/${createHash('sha256').update(socket).digest('hex').slice(0, 48)}`;
}
