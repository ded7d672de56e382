import type * as z from './zod.js';

type ZodError = z.core.$ZodError;

/**
 * The closed set of failure kinds. The shims map each one to their protocol: FlexVolume
 * replies `Failure` with the message, CSI maps them to gRPC status codes (see docs/errors.md).
 */
export const errorCodes = [
  'INVALID_ARGUMENT', // an input failed validation; `field` names it
  'NOT_FOUND', // a volume, share or publication that must exist does not
  'ALREADY_EXISTS', // a target or volume is in use by something incompatible
  'FAILED_PRECONDITION', // the call is valid but the state forbids it (deleting a mounted volume; a command not installed)
  'RESOURCE_EXHAUSTED', // out of space or capacity
  'OUT_OF_RANGE', // no size the backend can make lies within the capacity range asked
  'TIMEOUT', // a command or filesystem operation exceeded its bound (a hung mount)
  'BUSY', // a lock could not be taken within its bound
  'BROKEN_MOUNT', // a mount answers ENOTCONN, ESTALE, EIO... (see broken-mount.ts)
  'COMMAND_FAILED', // an external command exited non-zero
  'UNSUPPORTED', // the backend or strategy cannot do this
  'INTERNAL', // a bug or an unexpected system state
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface SharemountErrorOptions {
  /** The input field at fault, dotted (`source.path`, `options[2]`). */
  field?: string;
  cause?: unknown;
  /** Extra context safe to log: never a secret. */
  details?: Record<string, unknown>;
}

/** The one error type the library throws; `code` says what kind of failure it is. */
export class SharemountError extends Error {
  override readonly name = 'SharemountError';
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: SharemountErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }
}

export function isSharemountError(error: unknown, code?: ErrorCode): error is SharemountError {
  return error instanceof SharemountError && (code === undefined || error.code === code);
}

/**
 * A filesystem error on one of a call's paths as our error: the caller's paths, longest first,
 * say which input field the failing path belongs to. Errors already ours, and those on no known
 * path, pass through unchanged.
 */
export function fromFilesystemError(error: unknown, paths: ReadonlyArray<readonly [path: string, field: string]>): unknown {
  const { code, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  // symlink and rename name the path they create `dest`.
  const path = (error as { dest?: unknown } | undefined)?.dest ?? (error as NodeJS.ErrnoException | undefined)?.path;
  if (error instanceof SharemountError || typeof code !== 'string' || typeof path !== 'string') return error;
  const field = paths.find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`))?.[1];
  if (field === undefined) return error;
  const kind = code === 'ENOENT' ? 'NOT_FOUND' : errnoKind(code);
  const why = filesystemProblems[code] ?? `failed with ${code}`;
  return new SharemountError(kind, `${field}: ${syscall ?? 'a filesystem call'} of ${path} ${why}`, { field, cause: error });
}

/** The code for a filesystem call that failed on a path the caller gave: out of space, or a bad input. */
export function errnoKind(code: string | undefined): ErrorCode {
  return code === 'ENOSPC' || code === 'EDQUOT' ? 'RESOURCE_EXHAUSTED' : 'INVALID_ARGUMENT';
}

const filesystemProblems: Record<string, string> = {
  ENOENT: 'failed: a directory on the way does not exist',
  ENOTDIR: 'failed: a name on the way is not a directory',
  ENAMETOOLONG: 'failed: a name is too long',
  ELOOP: 'failed: too many symlinks on the way',
  EROFS: 'failed: the filesystem is read-only',
  EACCES: 'failed: permission denied',
  EPERM: 'failed: operation not permitted',
  EEXIST: 'failed: something else is already there',
  ENOSPC: 'failed: no space left',
  EDQUOT: 'failed: quota exceeded',
};

/** A failed field check, with the field named in both the message and `field`. */
export function invalidArgument(field: string, problem: string): SharemountError {
  return new SharemountError('INVALID_ARGUMENT', `${field}: ${problem}`, { field });
}

/**
 * Turns zod's report into our error, naming the first bad field. Zod messages are built from
 * our schemas and never echo the input value, so secrets cannot leak through them.
 */
export function fromZodError(error: ZodError, prefix?: string): SharemountError {
  const fieldOf = (issue: ZodError['issues'][number]) => {
    // An unknown key is reported on its parent; name the key itself.
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
    return [prefix, ...issue.path.map(String), ...keys].filter((p) => p !== undefined && p !== '').join('.') || 'input';
  };
  const first = error.issues[0];
  const field = first ? fieldOf(first) : (prefix ?? 'input');
  const message = error.issues.map((issue) => `${fieldOf(issue)}: ${issue.message}`).join('; ');
  return new SharemountError('INVALID_ARGUMENT', message, { field, cause: error });
}
