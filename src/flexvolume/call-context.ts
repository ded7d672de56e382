import type { AnyBackend } from '../backend.js';
import type { MountManager } from '../mount-manager.js';
import { coreTimeouts } from './deadline.js';
import type { FlexVolumeConfig } from './config.js';
import type { DriverCallContext, FlexVolumeDriverOptions } from './driver-options.js';
import type { FileLogger } from './log-file.js';
import { parseVolumeOptions } from './kubelet-options.js';

/** What every call handler gets: the driver, its configuration, a log and the core, lazily. */
export interface CallContext extends DriverCallContext {
  driver: FlexVolumeDriverOptions;
  logger: FileLogger;
  /** Milliseconds left before the call's deadline. */
  remainingMs(): number;
  /** The driver's backends, loaded on first use. */
  backends(): Promise<readonly AnyBackend[]>;
}

/**
 * Builds the context of one call. The MountManager (and with it execa and the rest of the core)
 * is imported only when a call needs it, so `init` and usage errors stay cheap.
 */
export function createCallContext(driver: FlexVolumeDriverOptions, config: FlexVolumeConfig, logger: FileLogger, startedAt: number): CallContext {
  let manager: Promise<MountManager> | undefined;
  let backends: Promise<readonly AnyBackend[]> | undefined;
  const loadBackends = () => (backends ??= Promise.resolve(typeof driver.backends === 'function' ? driver.backends() : driver.backends));
  return {
    driver,
    config,
    logger,
    remainingMs: () => Math.max(0, startedAt + config.timeoutMs - Date.now()),
    backends: loadBackends,
    manager() {
      manager ??= Promise.all([import('../mount-manager.js'), loadBackends()]).then(
        ([{ MountManager }, list]) => new MountManager({ root: config.root, backends: list, logger, timeouts: coreTimeouts(config.timeoutMs) }),
      );
      return manager;
    },
    parseOptions: parseVolumeOptions,
  };
}
