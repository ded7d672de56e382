import type { Logger } from '../logger.js';
import type { MountManager } from '../mount-manager.js';

/**
 * The CSI plugin's optional periodic check (`healIntervalMs`): a reconcile of the whole state
 * root every interval, which heals broken shares (docs/healing.md) before any call meets them.
 * One run at a time; the timer never keeps the process alive.
 */
export class PeriodicHeal {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly manager: Pick<MountManager, 'reconcile'>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.runOnce(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check, unless one is still running (a reconcile may wait for a share's lock). */
  runOnce(): Promise<void> {
    this.running ??= this.manager
      .reconcile()
      .then((report) => {
        if (report.healedShares.length > 0) this.logger.info({ healedShares: report.healedShares.map((h) => ({ share: h.share, republished: h.republished.length })) }, 'periodic check healed shares');
      })
      .catch((error: unknown) => this.logger.warn({ error: String(error) }, 'periodic check failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }
}
