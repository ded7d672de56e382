import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import * as z from './zod.js';
import { encodeComponent } from './escape.js';
import { listNames, readRecord, removeRecord, writeRecord } from './record-file.js';
import { parseRecordText } from './record-text.js';
import type { ShareKey } from './share-key.js';

/*
 * A heal in progress, on disk: `<root>/_heal/<escaped share key>.json`, with the fresh mount
 * made beside it at `<...>.mnt` until it replaces the broken one. Written before anything is
 * changed and removed once every publication shows the fresh mount, so that a heal killed at
 * any point is finished by the next one (a publish, a reconcile): without it, the publications
 * still showing the broken mount (or none, between the detach and the new bind) would look
 * like debris to reconcile, which would drop their references.
 */

const mountSchema = z.object({ device: z.string(), root: z.string() });

export const healJournalSchema = z.object({
  version: z.literal(1),
  key: z.string(),
  /** The broken mounts of the share (device and root as mountinfo shows them) that publications may still show. */
  previous: z.array(mountSchema),
  /** Targets whose publications are being made again (detached, then bound from the fresh mount). */
  targets: z.optional(z.array(z.string())),
});
export type HealJournal = z.infer<typeof healJournalSchema>;

const journalDir = '_heal';
// Room for the longer suffix within one 255-byte name.
const nameBytes = 255 - '.json'.length;

export class HealJournals {
  constructor(private readonly root: string) {}

  private base(key: ShareKey): string {
    return join(this.root, journalDir, encodeComponent(key, nameBytes));
  }

  /** Where the fresh mount is made before it replaces the broken one (inside the root, outside every share directory). */
  sideMountPoint(key: ShareKey): string {
    return `${this.base(key)}.mnt`;
  }

  /** Makes the side mount point (an empty directory); safe to repeat. */
  makeSideMountPoint(key: ShareKey): string {
    const path = this.sideMountPoint(key);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    return path;
  }

  /** Removes the side mount point when it is an empty directory (never anything else). */
  removeSideMountPoint(key: ShareKey): void {
    try {
      rmdirSync(this.sideMountPoint(key));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EBUSY') throw error;
    }
  }

  read(key: ShareKey): HealJournal | undefined {
    const text = readRecord(`${this.base(key)}.json`);
    if (text === undefined) return undefined;
    const journal = parseRecordText(healJournalSchema, text);
    // A record cut short by a crash: the heal it began changed nothing yet (the record comes first).
    return journal?.key === key ? journal : undefined;
  }

  write(journal: HealJournal): void {
    mkdirSync(join(this.root, journalDir), { recursive: true, mode: 0o700 });
    writeRecord(`${this.base(journal.key)}.json`, `${JSON.stringify(journal)}\n`);
  }

  remove(key: ShareKey): void {
    removeRecord(`${this.base(key)}.json`);
  }

  /** The shares with a heal in progress (cheap when there is none: one readdir). */
  pendingKeys(): ShareKey[] {
    const keys: ShareKey[] = [];
    for (const name of listNames(join(this.root, journalDir))) {
      if (!name.endsWith('.json')) continue;
      const journal = parseRecordText(healJournalSchema, readRecord(join(this.root, journalDir, name)) ?? '');
      if (journal !== undefined) keys.push(journal.key);
    }
    return keys;
  }
}
