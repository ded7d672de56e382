import { closeSync, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

/*
 * Synchronous file calls for the state root's own small records. The root is the node's local
 * state directory, never inside a share, so these calls cannot hang on a mount; made
 * synchronously they cost a few microseconds each instead of a round trip through libuv's
 * thread pool, which is most of what a publication costs besides its one `mount`.
 */

let tempCounter = 0;

/**
 * Replaces `file` atomically: a temp file beside it (`<file>.<digits>`, exclusive create), then
 * rename. No fsync: records must survive the process, not the machine (see state.ts).
 */
export function writeRecord(file: string, text: string): void {
  const temp = `${file}.${process.pid}${String(tempCounter++ % 10_000).padStart(4, '0')}`;
  try {
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // nothing was created
    }
    throw error;
  }
}

/**
 * Creates `file` with `text`, failing with EEXIST when it exists (nothing touched then). Not
 * atomic: a reader, or a crash, can meet it partly written; only for records whose readers
 * take an unparseable one for absent (state.ts createRef).
 */
export function createRecord(file: string, text: string): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeFileSync(fd, text);
  } catch (error) {
    closeSync(fd);
    removeRecord(file); // ours: created just now
    throw error;
  }
  closeSync(fd);
}

/** The file's text, or undefined when it does not exist. */
export function readRecord(file: string): string | undefined {
  return orUndefinedWhenMissing(() => readFileSync(file, 'utf8'));
}

/** A symlink's text, or undefined when it does not exist. */
export function readLinkText(file: string): string | undefined {
  // A missing link is the common case (a new publication): lstat says so without the cost of
  // building an exception.
  if (lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
  return orUndefinedWhenMissing(() => readlinkSync(file));
}

/** Names in a directory, or none when it does not exist. */
export function listNames(dir: string): string[] {
  return orUndefinedWhenMissing(() => readdirSync(dir)) ?? [];
}

/** Unlinks `file`; a missing one is fine. */
export function removeRecord(file: string): void {
  orUndefinedWhenMissing(() => unlinkSync(file));
}

function orUndefinedWhenMissing<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
