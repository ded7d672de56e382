import { describe, expect, it } from 'vitest';
import { checkCapacityFits, checkCapacityRange, recordedSize } from '../../src/capacity-range.js';

describe('capacity ranges', () => {
  it('a volume fits when it has at least the size asked and at most the limit', () => {
    for (const range of [{}, { capacityBytes: 10 }, { capacityBytes: 1 }, { capacityLimitBytes: 10 }, { capacityBytes: 10, capacityLimitBytes: 10 }]) {
      expect(() => checkCapacityFits('volume v', 10, range)).not.toThrow();
    }
    expect(() => checkCapacityFits('volume v', 10, { capacityBytes: 11 })).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS', field: 'name', message: 'volume v exists with 10 bytes, less than the 11 asked for' }));
    expect(() => checkCapacityFits('volume v', 10, { capacityLimitBytes: 9 })).toThrow(expect.objectContaining({ code: 'ALREADY_EXISTS', message: 'volume v exists with 10 bytes, more than the limit of 9' }));
  });

  it('refuses a range that is not whole bytes, negative or upside down, naming the field', () => {
    for (const [range, field] of [
      [{ capacityBytes: -1 }, 'capacityBytes'],
      [{ capacityBytes: 1.5 }, 'capacityBytes'],
      [{ capacityLimitBytes: Number.NaN }, 'capacityLimitBytes'],
      [{ capacityLimitBytes: 2 ** 60 }, 'capacityLimitBytes'],
      [{ capacityBytes: 11, capacityLimitBytes: 10 }, 'capacityBytes'],
    ] as const) {
      expect(() => checkCapacityRange(range)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }));
    }
  });

  it('records what was asked, else the limit, else 0', () => {
    expect([recordedSize({ capacityBytes: 5, capacityLimitBytes: 9 }), recordedSize({ capacityLimitBytes: 9 }), recordedSize({})]).toEqual([5, 9, 0]);
  });
});
