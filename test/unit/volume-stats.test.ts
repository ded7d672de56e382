import { describe, expect, it } from 'vitest';
import { parseStatFs } from '../../src/volume-stats.js';

describe('parseStatFs', () => {
  it('turns stat -f fields into bytes and inodes', () => {
    expect(parseStatFs('4096 1000 250 200 5000 4000\n')).toEqual({
      totalBytes: 4096 * 1000,
      usedBytes: 4096 * 750,
      availableBytes: 4096 * 200,
      totalInodes: 5000,
      usedInodes: 1000,
      freeInodes: 4000,
    });
  });

  it('reports filesystems without inode counts (NFS may say 0) as zero used', () => {
    expect(parseStatFs('1048576 10 5 5 0 0')).toMatchObject({ totalInodes: 0, usedInodes: 0, freeInodes: 0 });
  });

  for (const line of ['', '4096 1 2', '4096 a b c d e', '4096 1 2 3 4 5 6', '-1 1 1 1 1 1']) {
    it(`refuses malformed output ${JSON.stringify(line)}`, () => {
      expect(() => parseStatFs(line)).toThrow(/unexpected output of stat -f/);
    });
  }
});
