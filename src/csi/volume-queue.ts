import { E_TIMEOUT, Mutex, withTimeout } from 'async-mutex';
import { status } from '@grpc/grpc-js';
import { CsiStatusError } from './status.js';

/**
 * Serialises the calls for one volume, first come first served, while calls for different
 * volumes run in parallel. The CO may send overlapping calls for a volume (a retry while the
 * first attempt still runs); queueing them is friendlier than answering ABORTED at once, but the
 * line is bounded, and a call whose deadline passes while it waits answers ABORTED: the CO
 * retries it later.
 */
export class VolumeQueue {
  private readonly lines = new Map<string, { mutex: Mutex; users: number }>();

  constructor(private readonly maxWaiting: number) {}

  async run<T>(volumeId: string, deadline: number, work: () => Promise<T>): Promise<T> {
    const line = this.lines.get(volumeId) ?? { mutex: new Mutex(), users: 0 };
    const waiting = Math.max(0, line.users - 1); // the first user is running, not waiting
    if (line.users > 0 && waiting >= this.maxWaiting) {
      throw new CsiStatusError(status.ABORTED, `volume ${volumeId}: ${waiting} calls are already waiting for it; try again later`);
    }
    const waitMs = deadline - Date.now();
    if (waitMs <= 0) throw new CsiStatusError(status.ABORTED, `volume ${volumeId}: the call's deadline passed before it started`);
    line.users++;
    this.lines.set(volumeId, line);
    try {
      // Infinity (no deadline) is no timer at all; a deadline past the longest timer is as good.
      const mutex = Number.isFinite(waitMs) ? withTimeout(line.mutex, Math.min(waitMs, 2 ** 31 - 1)) : line.mutex;
      return await mutex.runExclusive(work);
    } catch (error) {
      if (error === E_TIMEOUT) throw new CsiStatusError(status.ABORTED, `volume ${volumeId}: another call for it outlasted this call's deadline`);
      throw error;
    } finally {
      if (--line.users === 0) this.lines.delete(volumeId);
    }
  }
}
