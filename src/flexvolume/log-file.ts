import { closeSync, constants, fstatSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { redactedPaths, type Logger } from '../logger.js';
import type { LogLevel } from './config.js';

/** A Logger whose lines go to a file, loading pino only when the first line is logged. */
export interface FileLogger extends Logger {
  /** Resolves when every line logged so far is in the file (or could not be written). */
  flush(): Promise<void>;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const levelOrder: readonly Level[] = ['debug', 'info', 'warn', 'error'];
type Entry = [Level, Record<string, unknown>, string];


/**
 * Where the process's one pino instance writes: the file of the logger whose line it is
 * writing, set just before each (synchronous) line.
 */
const sink = {
  fd: undefined as number | undefined,
  write(line: string): void {
    if (this.fd !== undefined) writeFileSync(this.fd, line); // the whole line, however many writes it takes
  },
};

let shared: Promise<Logger & { child(bindings: Record<string, unknown>): Logger }> | undefined;

/**
 * pino, built once per process with everything but the file and the line's base fields: a
 * process that logs through several FileLoggers (the build's warm-up, a test) builds it once.
 */
function sharedPino() {
  shared ??= import('pino').then((module) => {
    const pino = module.pino ?? module.default;
    return pino(
      {
        level: 'debug', // each FileLogger applies its own level before a line gets here
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        redact: { paths: redactedPaths, censor: '[Redacted]' },
      },
      sink,
    );
  });
  return shared;
}

/**
 * Opens the log for appending, making its directories. Never blocks: a FIFO with no reader fails
 * (ENXIO) rather than waiting for one. Never the reply's own streams: kubelet reads stdout and
 * stderr merged, so a log that is one of them (`/dev/stderr`, `/proc/self/fd/1`) is refused.
 */
function openLogFile(file: string): number {
  makeDirectories(dirname(file));
  const fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK);
  if (isSameFile(fd, 1) || isSameFile(fd, 2)) {
    closeSync(fd);
    throw new Error('the log file is the reply stream');
  }
  return fd;
}

function isSameFile(fd: number, other: number): boolean {
  try {
    const [a, b] = [fstatSync(fd), fstatSync(other)];
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false; // that stream is closed
  }
}

/** mkdir -p, one level at a time (Node's recursive mkdir loops for ever on some /proc paths). */
function makeDirectories(dir: string): void {
  const names = dir.split('/').filter((name) => name !== '');
  for (let depth = 1; depth <= names.length; depth++) {
    try {
      mkdirSync(`/${names.slice(0, depth).join('/')}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/**
 * A logger for one short-lived process. pino costs milliseconds to load and a call that logs
 * nothing (init, a usage error) should not pay them, so lines are queued and pino is loaded
 * on the first one. Writes are synchronous so `process.exit` loses nothing, and every failure
 * to log is swallowed: the process may write nothing but its one reply.
 */
export function createFileLogger(options: { file: string | undefined; level: LogLevel; base: Record<string, unknown> }): FileLogger {
  const queue: Entry[] = [];
  let target: Promise<{ fd: number; logger: Logger } | undefined> | undefined;

  const load = async () => {
    if (options.file === undefined) return undefined;
    try {
      const logger = (await sharedPino()).child(options.base);
      return { fd: openLogFile(options.file), logger };
    } catch {
      return undefined;
    }
  };

  const drain = (file: { fd: number; logger: Logger } | undefined) => {
    for (const [level, fields, message] of queue.splice(0)) {
      if (file === undefined) continue;
      try {
        sink.fd = file.fd;
        file.logger[level](fields, message);
      } catch {
        // A line that cannot be written is dropped; the reply matters more.
      } finally {
        sink.fd = undefined;
      }
    }
    return file;
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
