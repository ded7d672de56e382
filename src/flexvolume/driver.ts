import { basename, resolve } from 'node:path';
import { parseCall, type ParsedCall } from './calls.js';
import { resolveCapabilities } from './capabilities.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';
import type { FileLogger } from './log-file.js';
import { quietProcess } from './quiet-process.js';
import { exitCodeOf, failure, failureFrom, ReplyWriter, success, type Reply } from './reply.js';

/** A FlexVolume driver: `main()` is the whole executable, `handle()` one call without exiting. */
export interface FlexVolumeDriver {
  /** Answers one call (argv after the executable) and resolves with the reply; never throws. */
  handle(argv: readonly string[]): Promise<Reply>;
  /** Runs the call in `process.argv`, writes its one reply and exits with the matching code. */
  main(): Promise<never>;
}

// What stray stdout/stderr output is kept in the log, at most.
const strayTextChars = 2_000;
// Once the reply is out, the log gets this long to reach its file before the process exits.
const logFlushMs = 1_000;

/**
 * Turns the core and a set of backends into a complete FlexVolume driver. This module loads
 * nothing heavy: `init` and usage errors are answered here, everything else is imported when a
 * call needs it (run-call.js, then the core and the backends).
 */
export function createFlexVolumeDriver(driver: FlexVolumeDriverOptions): FlexVolumeDriver {
  const executable = executableOf(driver);
  let logger: FileLogger | undefined;
  const handle = (argv: readonly string[], onDeadline?: (reply: Reply) => void) =>
    answerCall(driver, argv, { executable, onLogger: (l) => (logger = l), onDeadline });
  return {
    handle: (argv) => handle(argv),
    main: () => runMain(driver, handle, () => logger),
  };
}

/** The installed executable: the driver's `executable`, else this process's script or single executable. */
export function executableOf(driver: FlexVolumeDriverOptions): string | undefined {
  return driver.executable ?? (process.argv[1] === undefined ? undefined : resolve(process.argv[1]));
}

export interface AnswerHooks {
  executable: string | undefined;
  /** Called with the call's logger as soon as it exists. */
  onLogger(logger: FileLogger): void;
  /** Called with a Failure reply when the deadline passes before the call is done. */
  onDeadline?(reply: Reply): void;
}

/**
 * Answers one call (argv after the executable); never throws. `init` and usage errors are
 * answered here, everything else is imported when a call needs it (run-call.js, then the core
 * and the backends). The build's warm-up answers its harmless calls through this too.
 */
export async function answerCall(driver: FlexVolumeDriverOptions, argv: readonly string[], hooks: AnswerHooks): Promise<Reply> {
  const startedAt = Date.now();
  const shownName = hooks.executable === undefined ? (driver.name.split('/').pop() ?? driver.name) : basename(hooks.executable);
  const parsed = parseCall(argv, shownName);
  if (!parsed.ok) return failure(parsed.message);
  if (parsed.parsed.call === 'init') return success({ capabilities: resolveCapabilities(driver.capabilities) });
  try {
    const { runCall } = await import('./run-call.js');
    return await runCall(parsed.parsed as ParsedCall, { driver, executable: hooks.executable, startedAt, onLogger: hooks.onLogger, onDeadline: hooks.onDeadline });
  } catch (error) {
    return failureFrom(error); // the lazy import itself failed
  }
}

/** The whole process: one call, one reply on fd 1, then exit with the matching code. */
async function runMain(
  driver: FlexVolumeDriverOptions,
  handle: (argv: readonly string[], onDeadline: (reply: Reply) => void) => Promise<Reply>,
  currentLogger: () => FileLogger | undefined,
): Promise<never> {
  const writer = new ReplyWriter();
  let exiting = false;
  const finish = (reply: Reply) => {
    const sent = writer.send(reply);
    if (exiting) return;
    exiting = true;
    // Nothing after the reply may change it: the log's last lines only delay the exit, at most by logFlushMs.
    const flushed = currentLogger()?.flush() ?? Promise.resolve();
    const cap = new Promise((done) => setTimeout(done, logFlushMs).unref());
    void Promise.race([flushed, cap]).finally(() => process.exit(exitCodeOf(sent)));
  };
  quietProcess({
    onStray: (stream, text) => currentLogger()?.warn({ stream, text: text.slice(0, strayTextChars) }, 'stray output kept off stdout/stderr'),
    onFatal: (error) => {
      currentLogger()?.error({ error: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'uncaught error');
      finish(failureFrom(error));
    },
  });
  // The last guard: a call whose work was dropped on the floor still answers.
  process.on('exit', () => {
    if (writer.replied) return;
    writer.send(failure('the driver exited without a reply (internal error)'));
    process.exitCode = 1;
  });
  finish(await handle(driver.argv ?? process.argv.slice(2), finish));
  return new Promise<never>(() => {});
}

/**
 * The global the build's code-cache step (scripts/flexvolume-code-cache.cjs) sets before it
 * evaluates the bundle: the entry then warms up instead of answering a call. Never taken from
 * the environment or argv, which kubelet's callers control.
 */
export const warmUpGlobal = '__sharemountWarmUp';

/** What the code-cache step hands the bundle in `warmUpGlobal`, and waits for. */
export interface WarmUpRequest {
  warmedUp?: Promise<void>;
}

/** Builds the driver and runs it: the one line a driver's entry file needs. */
export function runFlexVolumeDriver(driver: FlexVolumeDriverOptions): Promise<never> {
  const warmUp = (globalThis as Record<string, unknown>)[warmUpGlobal] as WarmUpRequest | undefined;
  if (warmUp !== undefined) {
    warmUp.warmedUp = import('./warm-up.js').then((module) => module.warmUp(driver));
    return new Promise<never>(() => {});
  }
  return createFlexVolumeDriver(driver).main();
}
