import { SharemountError } from './errors.js';
import { isBrokenMountError } from './broken-mount.js';

/**
 * Bounds an in-process filesystem call on a share. A call stuck on a hung mount cannot be
 * cancelled (it occupies a libuv worker until the kernel answers), but the caller gets a TIMEOUT
 * error in time instead of waiting with it. Errors of a broken mount become BROKEN_MOUNT.
 */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SharemountError('TIMEOUT', `${what} did not finish within ${timeoutMs} ms (is the mount hung?)`)), timeoutMs);
    timer.unref();
  });
  work.catch(() => {}); // a late failure after the timeout is of no interest
  try {
    return await Promise.race([work, expired]);
  } catch (error) {
    if (isBrokenMountError(error)) {
      throw new SharemountError('BROKEN_MOUNT', `${what} failed: the mount is broken (${(error as NodeJS.ErrnoException).code})`, { cause: error });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
