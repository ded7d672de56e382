import { status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from '../logger.js';
import { noMetrics, type PluginMetrics } from './metrics.js';
import type { CallInfo } from './service-context.js';
import { toServiceError } from './status.js';

type Handler = (request: unknown, call: CallInfo) => Promise<object>;

/** Calls a CO makes often and that change nothing: logged at debug level. */
const quietCalls = new Set(['Probe', 'GetPluginInfo', 'GetPluginCapabilities', 'NodeGetCapabilities', 'NodeGetInfo', 'ControllerGetCapabilities', 'NodeGetVolumeStats']);

/**
 * The request fields a log line may show. Requests carry secrets (`secrets`), and mount flags
 * and volume contexts may: a line is built from this list, so nothing else can reach the log.
 */
const loggedFields = ['volume_id', 'staging_target_path', 'target_path', 'volume_path', 'readonly'] as const;

/**
 * A service's async handlers as grpc-js unary handlers: each answers with its result, or with
 * the gRPC status of what it threw (status.ts), and leaves one log line per call.
 */
export function toGrpcHandlers(handlers: Record<string, Handler>, logger: Logger, metrics: PluginMetrics = noMetrics): UntypedServiceImplementation {
  const entries = Object.entries(handlers).map(([method, handle]) => [
    method,
    (call: ServerUnaryCall<unknown, object>, callback: sendUnaryData<object>) => {
      const startedAt = performance.now();
      const info: CallInfo = { deadline: deadlineOf(call.getDeadline()) };
      const finish = (code: status, message?: string) => {
        const elapsedMs = performance.now() - startedAt;
        metrics.observeCall(method, status[code], elapsedMs / 1000);
        const fields = { method, code: status[code], ms: Math.round(elapsedMs), ...loggable(call.request), ...(message === undefined ? {} : { message }) };
        if (code !== status.OK) logger.warn(fields, 'call failed');
        else if (quietCalls.has(method)) logger.debug(fields, 'call');
        else logger.info(fields, 'call');
      };
      handle(call.request, info).then(
        (response) => {
          finish(status.OK);
          callback(null, response);
        },
        (error: unknown) => {
          const serviceError = toServiceError(error);
          finish(serviceError.code, serviceError.details);
          callback(serviceError);
        },
      );
    },
  ]);
  return Object.fromEntries(entries) as UntypedServiceImplementation;
}

function deadlineOf(deadline: Date | number): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

function loggable(request: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (request === null || typeof request !== 'object') return fields;
  for (const key of loggedFields) {
    const value = (request as Record<string, unknown>)[key];
    if (value !== undefined && value !== '') fields[key] = value;
  }
  return fields;
}
