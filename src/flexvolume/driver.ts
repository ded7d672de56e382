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
  const executable = driver.executable ?? (process.argv[1] === undefined ? undefined : resolve(process.argv[1]));
  const shownName = executable === undefined ? (driver.name.split('/').pop() ?? driver.name) : basename(executable);
  let logger: FileLogger | undefined;

  const handle = async (argv: readonly string[], onDeadline?: (reply: Reply) => void): Promise<Reply> => {
    const startedAt = Date.now();
    const parsed = parseCall(argv, shownName);
    if (!parsed.ok) return failure(parsed.message);
    if (parsed.parsed.call === 'init') return success({ capabilities: resolveCapabilities(driver.capabilities) });
    try {
      const { runCall } = await import('./run-call.js');
      return await runCall(parsed.parsed as ParsedCall, { driver, executable, startedAt, onLogger: (l) => (logger = l), onDeadline });
    } catch (error) {
      return failureFrom(error); // the lazy import itself failed
    }
  };

  return {
    handle: (argv) => handle(argv),
    async main(): Promise<never> {
      const writer = new ReplyWriter();
      let exiting = false;
      const finish = (reply: Reply) => {
        const sent = writer.send(reply);
        if (exiting) return;
        exiting = true;
        const flushed = logger?.flush() ?? Promise.resolve();
        const cap = new Promise((done) => setTimeout(done, logFlushMs).unref());
        void Promise.race([flushed, cap]).finally(() => process.exit(exitCodeOf(sent)));
      };
      quietProcess({
        onStray: (stream, text) => logger?.warn({ stream, text: text.slice(0, strayTextChars) }, 'stray output kept off stdout/stderr'),
        onFatal: (error) => {
          logger?.error({ error: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) }, 'uncaught error');
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
    },
  };
}

/** Builds the driver and runs it: the one line a driver's entry file needs. */
export function runFlexVolumeDriver(driver: FlexVolumeDriverOptions): Promise<never> {
  const built = createFlexVolumeDriver(driver);
  // The build's startup-snapshot script sets this global (never the environment, so nothing a
  // caller of the installed driver controls can reach it) to warm up instead of answering a call.
  // The promise resolves to the executable's entry point: the driver's main, made afresh in the
  // process started from the snapshot, whose argv and environment are the call's.
  const build = globalThis as { __sharemountWarmUp?: unknown };
  if (build.__sharemountWarmUp === true) {
    build.__sharemountWarmUp = import('./warm-up.js')
      .then(({ warmUp }) => warmUp(built))
      .then(() => () => createFlexVolumeDriver(driver).main());
    return new Promise<never>(() => {});
  }
  return built.main();
}
