import { fromZodError, invalidArgument, isSharemountError, SharemountError } from './errors.js';
import type { AnyBackend, VolumeSpec } from './backend.js';

/*
 * How both shims turn a volume's flat string parameters (FlexVolume options, a CSI volume
 * context) into what to publish: pick the backend, validate the rest with its `parameters`
 * schema, turn them into a VolumeSpec with its `toVolume`.
 */

/** The parameter key that picks the backend when a driver serves several. */
export const backendKey = 'backend';

/**
 * The backend a volume asks for, named in `backend` (`field` is where the caller's parameters
 * are, for the error); the key is taken out of `parameters`. With one backend the key may be
 * left out, and when given must name it.
 */
export function pickBackend(parameters: Record<string, string>, backends: readonly AnyBackend[], field: string): AnyBackend {
  if (backends.length === 0) throw new SharemountError('INTERNAL', 'this driver has no backend');
  const name = parameters[backendKey];
  delete parameters[backendKey];
  if (backends.length === 1 && name === undefined) return backends[0]!;
  const names = backends.map((b) => b.name).join(', ');
  if (name === undefined) throw invalidArgument(`${field}.${backendKey}`, `is required: this driver serves ${names}`);
  const backend = backends.find((b) => b.name === name);
  if (!backend) throw invalidArgument(`${field}.${backendKey}`, `must be one of ${names}`);
  return backend;
}

/** The backend's parameters, validated, and the volume they describe. */
export function volumeOf(backend: AnyBackend, input: unknown, field: string): { parameters: unknown; volume: VolumeSpec } {
  if (backend.parameters === undefined || backend.toVolume === undefined) {
    throw new SharemountError('UNSUPPORTED', `backend ${backend.name} has no volume parameters (parameters and toVolume); it cannot serve volumes through a shim`);
  }
  const result = backend.parameters.safeParse(input);
  if (!result.success) throw fromZodError(result.error, field);
  try {
    return { parameters: result.data, volume: backend.toVolume(result.data) };
  } catch (error) {
    throw underField(error, field);
  }
}

/** A backend's check of one parameter (`subPath: ...`) named where the caller gave it (`options.subPath: ...`). */
function underField(error: unknown, field: string): unknown {
  if (!isSharemountError(error) || error.field === undefined || error.field.startsWith(`${field}.`)) return error;
  const named = `${field}.${error.field}`;
  const message = error.message.startsWith(error.field) ? `${field}.${error.message}` : error.message;
  return new SharemountError(error.code, message, { field: named, cause: error, details: error.details });
}
