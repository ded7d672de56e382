import { createHash } from 'node:crypto';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A read-only NodePublishVolume is a bind mount, then a remount that makes it read-only: for a
 * moment the target is writable, and a plugin killed then leaves it so. A note of the intent,
 * written before the bind and removed once the target is read-only, tells a retry that finds
 * the target writable which case it is in: its own unfinished publish (finish it), or a writable
 * publication made on purpose, which the spec answers with ALREADY_EXISTS rather than changing
 * a live mount under a running pod.
 *
 * The notes live in `<state root>/_csi-read-only/`, one file per target named by a hash of its
 * path (the core's share scan skips names that start with `_`).
 */
export class ReadOnlyIntents {
  constructor(private readonly dir: string) {}

  /** Notes that `target` is about to be published read-only. */
  async note(target: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.file(target), `${target}\n`, { mode: 0o600 });
  }

  async has(target: string): Promise<boolean> {
    try {
      await access(this.file(target));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  async clear(target: string): Promise<void> {
    await rm(this.file(target), { force: true });
  }

  private file(target: string): string {
    return join(this.dir, createHash('sha256').update(target).digest('hex').slice(0, 40));
  }
}
