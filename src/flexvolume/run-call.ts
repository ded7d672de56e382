import './zod-jitless.js';
import { createCallContext } from './call-context.js';
import type { ParsedCall } from './calls.js';
import { loadConfig } from './config.js';
import { startDeadline } from './deadline.js';
import { dispatch } from './dispatch.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';
import { createFileLogger, type FileLogger } from './log-file.js';
import { failure, failureFrom, type Reply } from './reply.js';

/** systemd's default PATH, for a process started without one. */
export const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface RunCallOptions {
  driver: FlexVolumeDriverOptions;
  executable: string | undefined;
  startedAt: number;
  /** Called with the call's logger as soon as it exists (for stray output and fatal errors). */
  onLogger(logger: FileLogger): void;
  /** Called with a Failure reply when the deadline passes before the call is done. */
  onDeadline?(reply: Reply): void;
}

/**
 * Runs a call that does real work (everything but `init`): loads the configuration, opens the
 * log, starts the deadline and dispatches. Imported lazily by the driver, so that `init` never
 * loads zod, the core or a backend. Never throws: every failure becomes a Failure reply.
 */
export async function runCall(parsed: ParsedCall, options: RunCallOptions): Promise<Reply> {
  const { driver } = options;
  let logger: FileLogger | undefined;
  // kubelet's environment is inherited, and may lack PATH (a bare systemd unit, `env -i`):
  // mount(8), mkfs and lvm are then found where systemd's default PATH would find them.
  process.env.PATH ??= defaultPath;
  try {
    const config = loadConfig(driver.env ?? process.env, driver, options.executable, driver.name);
    logger = createFileLogger({ file: config.logFile, level: config.logLevel, base: { driver: driver.name, call: parsed.call, pid: process.pid } });
    options.onLogger(logger);
    const context = createCallContext(driver, config, logger, options.startedAt);
    const deadline = startDeadline(Math.max(0, options.startedAt + config.timeoutMs - Date.now()), () => {
      logger?.error({ timeoutMs: config.timeoutMs }, 'deadline passed');
      options.onDeadline?.(failure(`${parsed.call} did not finish within ${config.timeoutMs} ms (SHAREMOUNT_TIMEOUT_MS); the storage may be hung; see the driver's log`));
    });
    try {
      return await dispatch(parsed, context);
    } finally {
      deadline.cancel();
    }
  } catch (error) {
    logger?.warn({ error: describeError(error) }, 'call failed');
    return failureFrom(error);
  }
}

/** An error as log fields: name, message, code, stack; never the error's `details` wholesale. */
export function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { name: error.name, message: error.message, code: (error as { code?: unknown }).code, stack: error.stack };
  return { message: String(error) };
}
