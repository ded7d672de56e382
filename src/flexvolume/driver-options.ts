import type { AnyBackend } from '../backend.js';
import type { Logger } from '../logger.js';
import type { MountManager } from '../mount-manager.js';
import type { Strategy } from '../publish-request.js';
import type { CallArguments, CallName } from './calls.js';
import type { Capabilities } from './capabilities.js';
import type { ConfigDefaults, FlexVolumeConfig } from './config.js';
import type { KubeletOptions, ParsedVolumeOptions } from './kubelet-options.js';
import type { Reply } from './reply.js';

/** What a call handler the driver author writes (attach, expandvolume...) gets besides its arguments. */
export interface DriverCallContext {
  config: FlexVolumeConfig;
  logger: Logger;
  /** The MountManager, created on first use. */
  manager(): Promise<MountManager>;
  /** Parses a JSON argument the way `mount` does. */
  parseOptions(json: string): ParsedVolumeOptions;
}

/** A call the shim leaves to the driver author; without one the call answers `Not supported`. */
export type CallHandler<C extends CallName> = (args: CallArguments<C>, context: DriverCallContext) => Promise<Reply> | Reply;

export type OptionalCalls = {
  [C in Exclude<CallName, 'init' | 'mount' | 'unmount'>]?: CallHandler<C>;
};

/** What `beforePublish` gets: the volume about to be published, validated. */
export interface PublishContext {
  backend: AnyBackend;
  /** The backend's parameters, after its schema. */
  parameters: unknown;
  kubelet: KubeletOptions;
  podVolumeDir: string;
  logger: Logger;
  /** Milliseconds left before the call's deadline. */
  remainingMs(): number;
}

/** Everything a FlexVolume driver built on sharemount is made of. */
export interface FlexVolumeDriverOptions extends ConfigDefaults {
  /** `vendor/driver`, as volumes name it (`driver: "example.com/nfs"`); installed as `vendor~driver/driver`. */
  name: string;
  /**
   * The backends this driver serves; with more than one, a volume picks one with the option
   * `backend`. A function is called only by calls that need them: `init` and usage errors then
   * load no backend, no zod and no execa, and cost what starting Node costs.
   */
  backends: readonly AnyBackend[] | (() => readonly AnyBackend[] | Promise<readonly AnyBackend[]>);
  /** What `init` declares, over the shared-mount defaults (see capabilities.ts). */
  capabilities?: Partial<Capabilities>;
  /** How publications are made unless a volume asks otherwise. Default `bind`. */
  strategy?: Strategy;
  /** Whether a volume may ask for `strategy: "symlink"`. Default: only when `strategy` is `symlink`. */
  allowSymlink?: boolean;
  /**
   * Maps the volume's own options (every key outside `kubernetes.io/`, minus the shim's `strategy`
   * and `backend`) and kubelet's fields to the backend's parameters. Default: the options as they are.
   */
  toParameters?(options: Readonly<Record<string, string>>, kubelet: KubeletOptions, backend: AnyBackend): Record<string, unknown>;
  /** Work before the publication, e.g. creating the volume when it is missing. */
  beforePublish?(context: PublishContext): Promise<void>;
  /** Driver option keys whose values are secret: never logged. */
  sensitiveOptionKeys?: readonly string[];
  /** Handlers for the attach-flow and expansion calls the driver implements. */
  calls?: OptionalCalls;
  /** argv after the executable; default `process.argv` after the script (or the executable, in a single executable). */
  argv?: readonly string[];
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The installed executable's path, to find the plugin directory; default: this process's. */
  executable?: string;
}
