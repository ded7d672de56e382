import * as z from '../zod.js';
import { SharemountError } from '../errors.js';
import { parseRecordText } from '../record-text.js';

/*
 * What a directory provisioner (bind, NFS) records of each snapshot, beside the snapshot's copy:
 * the name it was made for and its source (CSI asks ALREADY_EXISTS for a name reused with
 * another source), its size and time, and whether the copy is complete.
 */

export interface SnapshotRecord {
  /** The CSI snapshot name. */
  name: string;
  /** The source volume, as the backend names it (its own id, without the CSI `<backend>:`). */
  sourceVolumeId: string;
  /** The source volume's recorded size: what a volume made from the snapshot needs at least. */
  sizeBytes: number;
  /** When the copy began (ms since the epoch). */
  creationTime: number;
  /** The copy is complete; false while it runs, or after a crash cut it short (the next call makes it again). */
  readyToUse: boolean;
}

const snapshotRecord = z.object({
  name: z.string(),
  sourceVolumeId: z.string(),
  sizeBytes: z.int().check(z.minimum(0)),
  creationTime: z.int().check(z.minimum(0)),
  readyToUse: z.boolean(),
});

export function formatSnapshotRecord(record: SnapshotRecord): string {
  const { name, sourceVolumeId, sizeBytes, creationTime, readyToUse } = record;
  return JSON.stringify({ name, sourceVolumeId, sizeBytes, creationTime, readyToUse } satisfies SnapshotRecord);
}

/** Parses a record's text; the text is never quoted in the error (the file may not be ours). */
export function parseSnapshotRecord(text: string, dir: string): SnapshotRecord {
  const record = parseRecordText(snapshotRecord, text);
  if (record === undefined) throw new SharemountError('INTERNAL', `the record of snapshot ${dir} does not parse`);
  return record;
}
