import { writeSync } from 'node:fs';
import { isSharemountError } from '../errors.js';
import type { Capabilities } from './capabilities.js';

/**
 * One FlexVolume reply, as kubelet unmarshals it (pkg/volume/flexvolume/driver-call.go).
 * The status decides: `Success`, `Not supported` (exact spelling: kubelet then uses its own
 * fallback and never calls that command again), anything else is a failure shown in pod events.
 */
export type Reply =
  | { status: 'Success'; message?: string; device?: string; volumeName?: string; attached?: boolean; volumeNewSize?: number; capabilities?: Capabilities }
  | { status: 'Not supported' }
  | { status: 'Failure'; message: string };

export type ReplyStatus = Reply['status'];

/** `{"status":"Success", ...}` with the given fields. */
export function success(fields: Omit<Extract<Reply, { status: 'Success' }>, 'status'> = {}): Reply {
  return { status: 'Success', ...fields };
}

/** Exactly `{"status":"Not supported"}`: no message, so nothing else can be mistaken for it. */
export const notSupported: Reply = Object.freeze({ status: 'Not supported' });

/** A `Failure` with a message made safe for one line of pod events. */
export function failure(message: string): Reply {
  return { status: 'Failure', message: oneLine(message) };
}

/**
 * The failure reply for anything thrown. A SharemountError's message is built to be shown
 * (it names the field and never a secret); anything else is an unexpected error, and its
 * message is shown too, prefixed, because an operator reading pod events needs it.
 */
export function failureFrom(error: unknown): Reply {
  if (isSharemountError(error)) return failure(error.message);
  if (error instanceof Error) return failure(`internal error: ${error.message}`);
  return failure(`internal error: ${String(error)}`);
}

/**
 * The exit code that agrees with a status: 0 for `Success` and `Not supported` (both are
 * well-formed answers; kubelet fails a `Success` with a non-zero exit code), 1 for `Failure`.
 */
export function exitCodeOf(reply: Reply): 0 | 1 {
  return reply.status === 'Failure' ? 1 : 0;
}

/** The reply as the one line written to stdout. */
export function serialize(reply: Reply): string {
  return `${JSON.stringify(reply)}\n`;
}

/**
 * Writes exactly one reply to file descriptor 1, synchronously (so that `process.exit` right
 * after cannot lose it), and refuses any second one. Writing to the fd directly bypasses
 * `process.stdout.write`, which the quiet-process guard diverts to the log.
 */
export class ReplyWriter {
  private sent: Reply | undefined;

  constructor(private readonly fd = 1) {}

  /** Whether a reply has gone out already. */
  get replied(): boolean {
    return this.sent !== undefined;
  }

  /**
   * Sends `reply` unless one was sent; returns the reply that actually went out. A reply that is
   * not one (a driver's handler returned nothing, or something that cannot be serialized) goes
   * out as a Failure saying so: kubelet must get exactly one well-formed reply.
   */
  send(reply: Reply): Reply {
    if (this.sent !== undefined) return this.sent;
    const [checked, text] = wellFormed(reply);
    this.sent = checked;
    writeFully(this.fd, Buffer.from(text, 'utf8'));
    return checked;
  }
}

const statuses: readonly string[] = ['Success', 'Not supported', 'Failure'];

/** The reply that would go out for `reply`, and its line: a Failure saying so when it is not a reply. */
export function wellFormed(reply: unknown): [Reply, string] {
  const status = (reply as { status?: unknown } | null | undefined)?.status;
  if (typeof status !== 'string' || !statuses.includes(status)) {
    const bad = failure(`internal error: the driver's handler answered ${reply === null || typeof reply !== 'object' ? String(reply) : 'an object with no known status'} instead of a reply`);
    return [bad, serialize(bad)];
  }
  try {
    return [reply as Reply, serialize(reply as Reply)];
  } catch (error) {
    const bad = failure(`internal error: the driver's reply cannot be written as JSON (${error instanceof Error ? error.message : String(error)})`);
    return [bad, serialize(bad)];
  }
}

/** Writes all of `data` to `fd`, synchronously; gives up silently when the reader is gone. */
export function writeFully(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (error) {
      // A non-blocking pipe that is momentarily full: try again; anything else (EPIPE: kubelet
      // is gone) cannot be reported anywhere, so the reply is abandoned.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return;
    }
  }
}

function oneLine(message: string): string {
  const flat = message.trim().replace(/\s*\n\s*/g, '; ');
  return flat === '' ? 'failed (no message)' : flat;
}
