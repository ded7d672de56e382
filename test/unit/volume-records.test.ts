import { describe, expect, it } from 'vitest';
import { checkRecordedVolume, formatVolumeRecord, parseVolumeRecord, volumeRecordPath } from '../../src/volume-records.js';

describe('volume records', () => {
  it('round-trips a record and names its file beside the volumes', () => {
    const record = { name: 'pvc-1', capacityBytes: 1 << 30 };
    expect(parseVolumeRecord(formatVolumeRecord(record), 'pvc-1')).toEqual(record);
    expect(volumeRecordPath('pvc-1')).toBe('.sharemount-volumes/pvc-1.json');
  });

  it.each([['not json'], ['{"name":"v"}'], ['{"name":"v","capacityBytes":-1}'], ['{"name":"v","capacityBytes":1.5}'], ['[]']])(
    'refuses %s without quoting it',
    (text) => {
      expect(() => parseVolumeRecord(text, 'dir-a')).toThrow(expect.objectContaining({ code: 'INTERNAL', message: 'the record of volume directory dir-a (.sharemount-volumes/dir-a.json) does not parse' }));
    },
  );

  it('accepts the same name with a size in the range asked', () => {
    const recorded = { name: 'pvc-1', capacityBytes: 10 };
    for (const range of [{ capacityBytes: 10 }, { capacityBytes: 9 }, {}, { capacityLimitBytes: 10 }, { capacityBytes: 10, capacityLimitBytes: 10 }]) {
      expect(() => checkRecordedVolume(recorded, 'pvc-1', range, 'd')).not.toThrow();
    }
    expect(() => checkRecordedVolume(recorded, 'pvc-1', { capacityBytes: 11 }, 'd')).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS', field: 'name', message: 'volume pvc-1 exists with 10 bytes, less than the 11 asked for' }));
    expect(() => checkRecordedVolume(recorded, 'pvc-1', { capacityBytes: 5, capacityLimitBytes: 9 }, 'd')).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS', field: 'name', message: 'volume pvc-1 exists with 10 bytes, more than the limit of 9' }));
    expect(() => checkRecordedVolume(recorded, 'pvc-2', { capacityBytes: 10 }, 'd')).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS', message: 'directory d belongs to another volume' }));
  });
});
