import { SharemountError } from './errors.js';
import { errnoName, isBrokenMountError } from './broken-mount.js';

// What the shared timer rejects with; each bounded call turns it into its own TIMEOUT error.
const expiry = Symbol('expired');

/**
 * A time bound for in-process filesystem calls on a share, counted from its creation. A call
 * stuck on a hung mount cannot be cancelled (it occupies a libuv worker until the kernel
 * answers), but the caller gets a TIMEOUT error in time instead of waiting with it. Errors of
 * a broken mount become BROKEN_MOUNT. The checks of one publication, made side by side, share
 * one deadline: one timer for all of them.
 */
export class Deadline {
  private readonly timer: NodeJS.Timeout;
  private readonly expired: Promise<never>;

  constructor(readonly timeoutMs: number) {
    let timer: NodeJS.Timeout | undefined;
    this.expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(expiry), timeoutMs);
      timer.unref();
    });
    this.expired.catch(() => {}); // only ever awaited through bound()
    this.timer = timer!;
  }

  /** `work`, or TIMEOUT naming `what` when the deadline passes first. */
  async bound<T>(work: Promise<T>, what: string): Promise<T> {
    work.catch(() => {}); // a late failure after the timeout is of no interest
    try {
      return await Promise.race([work, this.expired]);
    } catch (error) {
      if (error === expiry) throw new SharemountError('TIMEOUT', `${what} did not finish within ${this.timeoutMs} ms (is the mount hung?)`);
      if (isBrokenMountError(error)) {
        throw new SharemountError('BROKEN_MOUNT', `${what} failed: the mount is broken (${errnoName(error)})`, { cause: error });
      }
      throw error;
    }
  }

  /** Stops the timer: once every call it bounds has settled. */
  clear(): void {
    clearTimeout(this.timer);
  }
}

/** Bounds one call by `timeoutMs` (a deadline of its own). */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const deadline = new Deadline(timeoutMs);
  try {
    return await deadline.bound(work, what);
  } finally {
    deadline.clear();
  }
}
