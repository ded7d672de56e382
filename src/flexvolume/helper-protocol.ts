import { isAbsolute, join } from 'node:path';

/**
 * What the driver executable and its resident helper say to each other over the helper's unix
 * socket (docs/flexvolume.md, "The resident helper"). One request line from the executable, then
 * lines from the helper: `accepted` as soon as it starts the call, then the `reply`; or one
 * `declined` line instead of both, after which the executable answers the call itself.
 * This module is imported by the launcher, which loads nothing else: keep it free of imports
 * beyond node:path.
 */

/** Where the socket lives unless SHAREMOUNT_HELPER_DIR says otherwise: tmpfs, emptied at boot. */
export const defaultHelperDir = '/run/sharemount';

/** The helper's socket of one driver: `<dir>/<vendor~driver>.sock`. */
export function helperSocket(dir: string, driverDir: string): string {
  return join(dir, `${driverDir}.sock`);
}

/** SHAREMOUNT_HELPER_DIR if set, else the default; undefined when it is not an absolute path. */
export function helperDirFrom(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return defaultHelperDir;
  return isAbsolute(value) && !value.includes('\0') ? value : undefined;
}

export interface HelperRequest {
  /** The executable's build: a helper of another build declines and retires. */
  build: string;
  /** `readlink /proc/self/ns/mnt` of the caller: mounts made in another namespace would not be the caller's. */
  mountNamespace: string;
  /** argv after the executable, as kubelet passed it. */
  argv: string[];
  /** The caller's environment: the call's configuration (SHAREMOUNT_*) is read from it. */
  env: Record<string, string>;
}

/** Why a helper did not take a call. */
export type DeclineReason = 'stale' | 'environment' | 'namespace' | 'retiring' | 'malformed';

export type HelperLine = { accepted: { timeoutMs: number } } | { reply: string } | { declined: DeclineReason };

/**
 * How the launcher fared with the helper, handed to the driver when it answers a call itself:
 * `off` (SHAREMOUNT_HELPER=off or a bad SHAREMOUNT_HELPER_DIR), `absent` (no helper listens),
 * `declined:<reason>`, `unresponsive` (no `accepted` in time), `lost` (the connection ended
 * without a reply: the helper died during the call).
 */
export type HelperOutcome = 'off' | 'absent' | `declined:${DeclineReason}` | 'unresponsive' | 'lost';

/** What the launcher tells the driver bundle it evaluates, through a global. */
export interface Launch {
  /** `warm-up`: the build's code-cache step (scripts/flexvolume-code-cache.cjs), which waits for `warmedUp`. */
  mode: 'call' | 'serve' | 'warm-up';
  build: string;
  /** The helper's socket; undefined when the helper is off. */
  socket: string | undefined;
  /** Set in `call` mode: why the call is answered here and not by a helper. */
  outcome?: HelperOutcome;
  /** Set by the driver in `warm-up` mode. */
  warmedUp?: Promise<void>;
}

/** The global the launcher sets before evaluating the bundle. */
export const launchGlobal = '__sharemountLaunch';

/** How long the launcher waits for `accepted`: only a helper whose event loop is stuck takes longer. */
export const acceptWaitMs = 2_000;
/** What the launcher allows past the call's own deadline before it gives up on the reply. */
export const replyGraceMs = 2_000;
/** A request line longer than this is refused (an environment is a few KB). */
export const maxRequestBytes = 1 << 20;
/** The environment variable that makes the executable serve as the helper instead of answering a call. */
export const serveVariable = 'SHAREMOUNT_HELPER_SERVE';
