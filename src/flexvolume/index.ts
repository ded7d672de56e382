/**
 * sharemount/flexvolume: a complete FlexVolume driver from the core and a set of backends.
 * See docs/flexvolume.md.
 *
 * Only light modules are exported here: a driver imports this file on every call, including
 * `init`, and everything behind `mount` and `unmount` (zod schemas, the core, execa) is loaded
 * only by the calls that need it.
 */
export { createFlexVolumeDriver, runFlexVolumeDriver, type FlexVolumeDriver } from './driver.js';
export type { FlexVolumeDriverOptions, DriverCallContext, CallHandler, OptionalCalls, PublishContext } from './driver-options.js';
export type { KubeletOptions, ParsedVolumeOptions } from './kubelet-options.js';
export type { FlexVolumeConfig, ConfigDefaults, LogLevel } from './config.js';
export { sharedMountCapabilities, resolveCapabilities, type Capabilities } from './capabilities.js';
export { callArguments, callNames, parseCall, usage, type CallName, type CallArguments, type ParsedCall } from './calls.js';
export { success, failure, failureFrom, notSupported, exitCodeOf, serialize, type Reply, type ReplyStatus } from './reply.js';
export { pluginDirOf, defaultPluginDir } from './plugin-dir.js';
