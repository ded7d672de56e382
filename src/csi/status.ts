import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isSharemountError, type ErrorCode } from '../errors.js';

/** The gRPC status of each of the library's error codes (the table in docs/errors.md). */
const statusOf: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  OUT_OF_RANGE: status.OUT_OF_RANGE,
  TIMEOUT: status.DEADLINE_EXCEEDED,
  BUSY: status.ABORTED,
  BROKEN_MOUNT: status.INTERNAL,
  COMMAND_FAILED: status.INTERNAL,
  UNSUPPORTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

/** An error the shim answers with a status of its own choosing (ABORTED for a full queue...). */
export class CsiStatusError extends Error {
  override readonly name = 'CsiStatusError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Any thrown value as the error a gRPC handler answers with. Messages of the library's errors
 * never hold a secret (errors.ts); anything else is a bug, answered INTERNAL by its message.
 */
export function toServiceError(error: unknown): ServiceError {
  const code = error instanceof CsiStatusError ? error.code : isSharemountError(error) ? statusOf[error.code] : status.INTERNAL;
  const details = error instanceof Error ? error.message : String(error);
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() });
}
