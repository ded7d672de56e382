import * as z from './zod.js';
import { SharemountError } from './errors.js';
import { parseRecordText } from './record-text.js';
import { checkCapacityFits, type CapacityRange } from './capacity-range.js';
import type { ContentSource } from './backend.js';

/*
 * What a provisioner (bind, NFS) records of each volume it made, in a directory beside the
 * volumes: the name the volume was made for and the size asked. Neither backend can enforce a
 * size, but CSI requires a repeated CreateVolume whose size range the volume does not fit to be
 * ALREADY_EXISTS, and a directory named by a template that another live volume already uses to
 * be refused rather than shared.
 */

/** The directory, beside the volumes, that holds the records: never a volume's name (those have no leading dot). */
export const volumeRecordsDir = '.sharemount-volumes';

export interface VolumeRecord {
  /** The name the volume was created for (CSI CreateVolume `name`). */
  name: string;
  capacityBytes: number;
  /** The volume was deleted under a retain policy: its directory is ours, but no volume's any more. */
  retained?: boolean;
  /** What the volume was made from (a snapshot or another volume, by the backend's own ids). */
  contentSource?: ContentSource;
}

const volumeRecord = z.object({
  name: z.string(),
  capacityBytes: z.int().check(z.minimum(0)),
  retained: z.optional(z.boolean()),
  contentSource: z.optional(z.union([z.strictObject({ snapshotId: z.string() }), z.strictObject({ volumeId: z.string() })])),
});

/** The record when it is a live volume's; undefined when there is none or it was retained on delete (a directory of ours, no volume's any more). */
export function liveVolume(record: VolumeRecord | undefined): VolumeRecord | undefined {
  return record?.retained ? undefined : record;
}

/** The record file of the volume in directory `dir`, relative to the records' parent. */
export function volumeRecordPath(dir: string): string {
  return `${volumeRecordsDir}/${dir}.json`;
}

export function formatVolumeRecord(record: VolumeRecord): string {
  return JSON.stringify({
    name: record.name,
    capacityBytes: record.capacityBytes,
    ...(record.retained ? { retained: true } : {}),
    ...(record.contentSource ? { contentSource: record.contentSource } : {}),
  } satisfies VolumeRecord);
}

/** Parses a record's text; the text is never quoted in the error (the file may not be ours). */
export function parseVolumeRecord(text: string, dir: string): VolumeRecord {
  const record = parseRecordText(volumeRecord, text);
  if (record === undefined) throw new SharemountError('INTERNAL', `the record of volume directory ${dir} (${volumeRecordPath(dir)}) does not parse`);
  return record;
}

/**
 * Throws ALREADY_EXISTS unless the recorded volume is the one a CreateVolume asks for: the same
 * name, and a size within the range asked. A record of another name means the directory belongs
 * to another live volume (a template that renders one name for two claims): sharing it would
 * mix their data.
 */
export function checkRecordedVolume(recorded: VolumeRecord, name: string, range: CapacityRange & { contentSource?: ContentSource }, dir: string): void {
  if (recorded.name !== name) throw new SharemountError('ALREADY_EXISTS', `directory ${dir} belongs to another volume`, { field: 'name' });
  if (sourceText(recorded.contentSource) !== sourceText(range.contentSource)) {
    throw new SharemountError('ALREADY_EXISTS', `volume ${name} exists, made from ${sourceText(recorded.contentSource)}, not from ${sourceText(range.contentSource)} as asked`, { field: 'name' });
  }
  checkCapacityFits(`volume ${name}`, recorded.capacityBytes, range);
}

function sourceText(source: ContentSource | undefined): string {
  if (source === undefined) return 'nothing (empty)';
  return 'snapshotId' in source ? `snapshot ${source.snapshotId}` : `volume ${source.volumeId}`;
}
