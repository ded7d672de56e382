import { invalidArgument } from '../errors.js';
import { backendKey, pickBackend, volumeOf } from '../volume-parameters.js';
import type { AnyBackend, VolumeSpec } from '../backend.js';
import type { Strategy } from '../publish-request.js';
import type { FlexVolumeDriverOptions } from './driver-options.js';
import type { ParsedVolumeOptions } from './kubelet-options.js';

/** The volume options the shim reads itself, before the backend sees the rest. */
export const shimOptionKeys = { strategy: 'strategy', backend: backendKey } as const;

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
  const backend = pickBackend(options, backends, 'options');
  const input = driver.toParameters ? driver.toParameters(options, parsed.kubelet, backend) : options;
  return { backend, ...volumeOf(backend, input, 'options'), strategy };
}

function pickStrategy(options: Record<string, string>, driver: FlexVolumeDriverOptions): Strategy {
  const fallback = driver.strategy ?? 'bind';
  const asked = options[shimOptionKeys.strategy];
  delete options[shimOptionKeys.strategy];
  if (asked === undefined) return fallback;
  if (asked !== 'bind' && asked !== 'symlink') throw invalidArgument('options.strategy', 'must be "bind" or "symlink"');
  const symlinkAllowed = driver.allowSymlink ?? fallback === 'symlink';
  if (asked === 'symlink' && !symlinkAllowed) throw invalidArgument('options.strategy', 'symlink is not allowed by this driver: it is no security boundary and breaks fsGroup and orphan clean-up, so a driver offers it only with its option allowSymlink (docs/strategies.md)');
  return asked;
}
