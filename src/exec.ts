import { execa } from 'execa';
import { SharemountError } from './errors.js';
import { heldLockFds } from './lock.js';

export interface RunOptions {
  /** Kill the command after this many milliseconds. */
  timeoutMs: number;
  /** Argument values to show as `***` in errors and logs (secret mount options). */
  sensitive?: readonly string[];
  env?: Record<string, string>;
  input?: string;
  /**
   * Let the command inherit the locks held by the caller (see lock.ts): for commands that must
   * finish before anyone else looks at the share even if we die (a publication's bind mount,
   * an unmount). Never for a command that may leave a daemon behind (a FUSE mount helper): the
   * daemon would hold the lock for its whole life.
   */
  inheritLocks?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs one external command with a hard time bound. execa kills the child when the timeout
 * expires, but a child stuck in the kernel (a mount against a dead NFS server, state D) cannot
 * die and execa would wait for its exit forever; so the promise is also raced against our own
 * timer, and the child is abandoned (its pipes unref'd) when it does not go.
 */
export async function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const child = execa(command, args, {
    timeout: options.timeoutMs,
    killSignal: 'SIGKILL',
    reject: false,
    // fd 3 and up: the locks held here, so that they outlive us for as long as the command runs.
    // (execa's types do not list plain descriptors for fd 3+, but it passes them through.)
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(options.inheritLocks ? heldLockFds() : [])] as unknown as ['pipe', 'pipe', 'pipe'],
    input: options.input,
    // execa's default `cleanup` kills the child when this process exits (a FlexVolume deadline,
    // a fatal error) and, through signal-exit, on SIGTERM, re-raising it: that would stop
    // util-linux between a read-only bind and its `ro` remount, and free the lock mid-change.
    // A command holding an inherited lock is left to finish (its own timeout still applies
    // while we live); an orphan keeps the lock until it ends. Other commands go with us.
    cleanup: !options.inheritLocks,
    env: options.env,
    extendEnv: true,
    stripFinalNewline: true,
  });
  let timer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<'abandoned'>((resolve) => {
    timer = setTimeout(() => resolve('abandoned'), options.timeoutMs + 1_000);
    timer.unref();
  });
  const outcome = await Promise.race([child, abandoned]);
  clearTimeout(timer);
  const shown = () => describe(command, args, options.sensitive);
  if (outcome === 'abandoned') {
    // Its own children (mount.nfs under mount) may hold the pipes open: stop reading them.
    child.kill('SIGKILL');
    child.stdout?.destroy();
    child.stderr?.destroy();
    throw new SharemountError('TIMEOUT', `${shown()} did not exit within ${options.timeoutMs} ms and could not be killed`, {
      details: { command },
    });
  }
  if (outcome.timedOut) {
    throw new SharemountError('TIMEOUT', `${shown()} timed out after ${options.timeoutMs} ms and was killed`, {
      details: { command },
    });
  }
  // No exit code and no signal: the command never ran (not installed, not executable).
  const spawnCode = (outcome as { code?: unknown }).code;
  if (outcome.exitCode === undefined && outcome.signal === undefined && typeof spawnCode === 'string') {
    const hint = spawnCode === 'ENOENT' ? `: not found on PATH (${options.env?.PATH ?? process.env.PATH ?? 'unset'}); is its package installed?` : '';
    throw new SharemountError('FAILED_PRECONDITION', `${command} could not be started (${spawnCode})${hint}`, { details: { command, code: spawnCode } });
  }
  const stdout = String(outcome.stdout ?? '');
  const stderr = redact(String(outcome.stderr ?? ''), options.sensitive);
  if (outcome.exitCode !== 0 || outcome.failed) {
    const why = stderr.trim() || outcome.signal || `exit code ${outcome.exitCode ?? 'unknown'}`;
    throw new SharemountError('COMMAND_FAILED', `${shown()} failed: ${why}`, {
      details: { command, exitCode: outcome.exitCode, stderr },
    });
  }
  return { stdout, stderr };
}

/** The command line as it may be shown: sensitive values replaced by `***`. */
export function describe(command: string, args: readonly string[], sensitive: readonly string[] = []): string {
  return [command, ...args].map((arg) => redact(arg, sensitive)).join(' ');
}

function redact(text: string, sensitive: readonly string[] = []): string {
  let out = text;
  for (const secret of sensitive) if (secret.length > 0) out = out.split(secret).join('***');
  return out;
}
