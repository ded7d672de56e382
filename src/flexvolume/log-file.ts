import type { Logger } from '../logger.js';
import type { LogLevel } from './config.js';

/** A Logger whose lines go to a file, loading pino only when the first line is logged. */
export interface FileLogger extends Logger {
  /** Resolves when every line logged so far is in the file (or could not be written). */
  flush(): Promise<void>;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const levelOrder: readonly Level[] = ['debug', 'info', 'warn', 'error'];
type Entry = [Level, Record<string, unknown>, string];

/** Keys whose values never reach the file, wherever they appear in a line's fields. */
export const redactedPaths = [
  'secrets', '*.secrets', 'sensitiveOptions', '*.sensitiveOptions', 'password', '*.password', 'options.password',
];

/**
 * A logger for one short-lived process. pino costs milliseconds to load and a call that logs
 * nothing (init, a usage error) should not pay them, so lines are queued and pino is imported
 * on the first one. Writes are synchronous (`sync: true`) so `process.exit` loses nothing, and
 * every failure to log is swallowed: the process may write nothing but its one reply.
 */
export function createFileLogger(options: { file: string | undefined; level: LogLevel; base: Record<string, unknown> }): FileLogger {
  const queue: Entry[] = [];
  let target: Promise<Logger | undefined> | undefined;

  const load = async (): Promise<Logger | undefined> => {
    if (options.file === undefined) return undefined;
    try {
      const module = await import('pino');
      const pino = module.pino ?? module.default;
      const destination = pino.destination({ dest: options.file, sync: true, mkdir: true });
      destination.on('error', () => {});
      const logger: Logger = pino(
        {
          level: options.level,
          base: options.base,
          timestamp: pino.stdTimeFunctions.isoTime,
          redact: { paths: redactedPaths, censor: '[Redacted]' },
        },
        destination,
      );
      return logger;
    } catch {
      return undefined;
    }
  };

  const drain = (logger: Logger | undefined) => {
    for (const [level, fields, message] of queue.splice(0)) {
      try {
        logger?.[level](fields, message);
      } catch {
        // A line that cannot be written is dropped; the reply matters more.
      }
    }
    return logger;
  };

  const threshold = levelOrder.indexOf(options.level);
  const log = (level: Level) => (fields: Record<string, unknown>, message: string) => {
    if (options.file === undefined || levelOrder.indexOf(level) < threshold) return;
    queue.push([level, fields, message]);
    target ??= load();
    void target.then(drain);
  };

  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    async flush() {
      if (target !== undefined) drain(await target);
    },
  };
}
