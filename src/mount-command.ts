import { run } from './exec.js';
import { withCopiedFlags } from './mount-flags.js';
import { SharemountError, isSharemountError } from './errors.js';
import type { OptionList } from './options.js';
import type { Logger } from './logger.js';

/** What one `mount` call should do; `buildMountArgs` turns it into argv without side effects. */
export interface MountCall {
  /** `-t` value (`nfs`, `ext4`...); omitted for bind mounts. */
  fsType?: string;
  bind?: boolean;
  source: string;
  target: string;
  options?: OptionList;
  /** Secret options: passed to mount(8), never shown in errors or logs. */
  sensitiveOptions?: OptionList;
  /** Pass paths to the kernel as given (they are already canonical, or are /proc fd links). */
  noCanonicalize?: boolean;
  /** Hold the caller's locks until mount(8) exits, even if the caller dies (see `RunOptions`). */
  inheritLocks?: boolean;
}

// The C locale keeps util-linux's messages stable enough to recognise "not mounted".
const commandEnv = { LC_ALL: 'C', LANG: 'C' };

/** argv for mount(8). Options are one `-o` item; `--` ends the flags so no path is read as one. */
export function buildMountArgs(call: MountCall): string[] {
  const args: string[] = [];
  if (call.fsType !== undefined) args.push('-t', call.fsType);
  if (call.bind) args.push('--bind');
  if (call.noCanonicalize) args.push('--no-canonicalize');
  const options = [...(call.options ?? []), ...(call.sensitiveOptions ?? [])];
  if (options.length > 0) args.push('-o', options.join(','));
  args.push('--', call.source, call.target);
  return args;
}

/** Runs mount(8) for `call`, killed after `timeoutMs`. */
export async function mount(call: MountCall, timeoutMs: number): Promise<void> {
  await run('mount', buildMountArgs(call), { timeoutMs, sensitive: call.sensitiveOptions ?? [], env: commandEnv, inheritLocks: call.inheritLocks });
}

export type UnmountOutcome = 'unmounted' | 'forced' | 'lazy' | 'not-mounted';

/** Longest wait for the plain umount of a publication before it is detached lazily. */
const publicationUnmountMs = 1_000;

/**
 * Unmounts a share (or any mount whose superblock nothing else uses), escalating as a broken
 * mount needs: a plain umount, then a forced one (aborts pending NFS requests), then a lazy
 * detach (always succeeds; the kernel finishes it when the last user goes). Each step is
 * bounded by `timeoutMs`. "Not mounted" is success.
 */
export function unmount(target: string, timeoutMs: number, logger?: Logger): Promise<UnmountOutcome> {
  return unmountSteps(target, logger, [
    ['unmounted', [], timeoutMs],
    ['forced', ['--force', '--no-canonicalize'], timeoutMs],
    ['lazy', ['--lazy', '--no-canonicalize'], timeoutMs],
  ]);
}

/**
 * Unmounts a publication: a bind mount of a share that other publications share. Never
 * `--force`: on NFS it aborts the requests of every mount of the superblock, other pods' too.
 * A publication that does not go at once (its share hung) is detached lazily instead.
 */
export function unmountPublication(target: string, timeoutMs: number, logger?: Logger): Promise<UnmountOutcome> {
  return unmountSteps(target, logger, [
    ['unmounted', [], Math.min(timeoutMs, publicationUnmountMs)],
    ['lazy', ['--lazy', '--no-canonicalize'], timeoutMs],
  ]);
}

// The plain step lets util-linux canonicalize: with --no-canonicalize libmount reads the whole
// mount table first (a cost growing with it), without it a healthy target costs one umount2().
// Canonicalizing stats the target, which can hang on a hung mount: the later steps skip it.
async function unmountSteps(target: string, logger: Logger | undefined, steps: Array<[UnmountOutcome, string[], number]>): Promise<UnmountOutcome> {
  let lastError: unknown;
  for (const [outcome, flags, timeoutMs] of steps) {
    try {
      await run('umount', [...flags, '--', target], { timeoutMs, env: commandEnv, inheritLocks: true });
      if (outcome !== 'unmounted') logger?.warn({ target, outcome }, 'unmount needed escalation');
      return outcome;
    } catch (error) {
      if (isNotMounted(error)) return 'not-mounted';
      if (isSharemountError(error, 'FAILED_PRECONDITION')) throw error; // umount cannot be started: no step can help
      lastError = error;
    }
  }
  throw new SharemountError('COMMAND_FAILED', `could not unmount ${target}, even lazily`, { cause: lastError });
}

function isNotMounted(error: unknown): boolean {
  if (!isSharemountError(error, 'COMMAND_FAILED')) return false;
  const stderr = String(error.details?.stderr ?? '');
  return /not mounted|no mount point specified|mountpoint not found/i.test(stderr);
}

/**
 * Makes an existing bind mount read-only (repairs a publication whose `ro` step never ran, or
 * that lost the share's flags), giving it `flags`, the per-mount flags of the share it copies,
 * explicitly: a remount sets exactly the flags mount(2) is given.
 */
export async function remountReadOnly(target: string, timeoutMs: number, flags: readonly string[]): Promise<void> {
  const options = ['remount', 'bind', ...withCopiedFlags(['ro'], flags)].join(',');
  await run('mount', ['--no-canonicalize', '-o', options, '--', target], { timeoutMs, env: commandEnv, inheritLocks: true });
}

/**
 * Detaches the mounts at `targets` (lazily: a broken mount whose old files a process still
 * holds open goes at once), in as few umount(8) runs as the argument list allows: one spawn for
 * hundreds of publications, where one each would cost as much again as making them. Failures
 * are not reported here (a target not mounted any more is fine): the caller checks the mount
 * table afterwards. Never `--force` (see unmountPublication).
 */
export async function detachMounts(targets: readonly string[], timeoutMs: number): Promise<void> {
  for (let start = 0; start < targets.length; start += 256) {
    const batch = targets.slice(start, start + 256);
    await run('umount', ['--lazy', '--no-canonicalize', '--', ...batch], { timeoutMs, env: commandEnv, inheritLocks: true }).catch((error: unknown) => {
      if (isSharemountError(error, 'FAILED_PRECONDITION')) throw error; // umount cannot be started
    });
  }
}
