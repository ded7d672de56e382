import { fromZodError, invalidArgument, SharemountError } from '../errors.js';
import type { AnyBackend, VolumeSpec } from '../backend.js';
import type { Strategy } from '../publish-request.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';
import type { ParsedVolumeOptions } from './kubelet-options.js';

/** The volume options the shim reads itself, before the backend sees the rest. */
export const shimOptionKeys = { strategy: 'strategy', backend: 'backend' } as const;

/** A `mount` call's volume, validated and ready for `MountManager.publish`. */
export interface VolumeRequest {
  backend: AnyBackend;
  parameters: unknown;
  volume: VolumeSpec;
  strategy: Strategy;
}

/**
 * Turns a parsed JSON argument into what to publish: picks the backend, reads the shim's own
 * options (`strategy`, and `backend` when the driver serves several), validates the rest with
 * the backend's `parameters` schema and turns them into a VolumeSpec with its `toVolume`.
 */
export function toVolumeRequest(parsed: ParsedVolumeOptions, driver: FlexVolumeDriverOptions, backends: readonly AnyBackend[]): VolumeRequest {
  const options = { ...parsed.driverOptions };
  const strategy = pickStrategy(options, driver);
  const backend = pickBackend(options, backends);
  if (backend.parameters === undefined || backend.toVolume === undefined) {
    throw new SharemountError('UNSUPPORTED', `backend ${backend.name} has no volume parameters (parameters and toVolume); it cannot serve FlexVolume volumes`);
  }
  const input = driver.toParameters ? driver.toParameters(options, parsed.kubelet, backend) : options;
  const result = backend.parameters.safeParse(input);
  if (!result.success) throw fromZodError(result.error, 'options');
  return { backend, parameters: result.data, volume: backend.toVolume(result.data), strategy };
}

function pickStrategy(options: Record<string, string>, driver: FlexVolumeDriverOptions): Strategy {
  const fallback = driver.strategy ?? 'bind';
  const asked = options[shimOptionKeys.strategy];
  delete options[shimOptionKeys.strategy];
  if (asked === undefined) return fallback;
  if (asked !== 'bind' && asked !== 'symlink') throw invalidArgument('options.strategy', 'must be "bind" or "symlink"');
  const symlinkAllowed = driver.allowSymlink ?? fallback === 'symlink';
  if (asked === 'symlink' && !symlinkAllowed) throw invalidArgument('options.strategy', 'symlink is not allowed by this driver (it breaks fsGroup and orphan clean-up; see docs/flexvolume.md)');
  return asked;
}

function pickBackend(options: Record<string, string>, backends: readonly AnyBackend[]): AnyBackend {
  if (backends.length === 0) throw new SharemountError('INTERNAL', 'this driver has no backend');
  if (backends.length === 1) return backends[0]!;
  const name = options[shimOptionKeys.backend];
  delete options[shimOptionKeys.backend];
  const names = backends.map((b) => b.name).join(', ');
  if (name === undefined) throw invalidArgument('options.backend', `is required: this driver serves ${names}`);
  const backend = backends.find((b) => b.name === name);
  if (!backend) throw invalidArgument('options.backend', `must be one of ${names}`);
  return backend;
}
