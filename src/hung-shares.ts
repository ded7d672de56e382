import { run } from './exec.js';
import { SharemountError, isSharemountError } from './errors.js';

/**
 * Shares whose filesystem stopped answering. A filesystem call into a hung mount cannot be
 * cancelled: it holds one of libuv's few worker threads until the kernel answers, and enough of
 * them would stall every file operation of the process, other shares' included. So after one
 * timeout the share is marked, and until it answers again it is only ever probed from a child
 * process (killed at the bound), never touched in-process.
 */
export class HungShares {
  private readonly hung = new Set<string>();

  /** Whether the share is marked: it timed out, and has not answered a probe since. */
  has(key: string): boolean {
    return this.hung.has(key);
  }

  /** Runs `work` (in-process calls into the share), marking the share when it times out. */
  async guard<T>(key: string, sharePath: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
    if (this.hung.has(key)) await this.probe(key, sharePath, timeoutMs);
    try {
      return await work();
    } catch (error) {
      if (isSharemountError(error, 'TIMEOUT')) this.hung.add(key);
      throw error;
    }
  }

  private async probe(key: string, sharePath: string, timeoutMs: number): Promise<void> {
    try {
      await run('stat', ['--file-system', '--format', '%T', '--', `${sharePath}/.`], { timeoutMs });
      this.hung.delete(key);
    } catch (error) {
      throw new SharemountError('TIMEOUT', `the share ${key} is not answering (it timed out before and still does)`, { cause: error });
    }
  }
}
