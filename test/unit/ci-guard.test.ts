import { afterEach, describe, expect, it, vi } from 'vitest';
import { isCi, skipWhenMissing } from '../helpers/ci.js';

describe('the integration tests\' CI guard', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('takes any non-empty CI for CI, and only an unset or empty one for a developer\'s run', () => {
    for (const value of ['true', '1', 'yes', 'woodpecker', 'false']) expect(isCi({ CI: value }), value).toBe(true);
    expect(isCi({})).toBe(false);
    expect(isCi({ CI: '' })).toBe(false);
  });

  it('fails a suite whose prerequisite is missing on CI, whatever CI is set to, naming what is missing', () => {
    for (const value of ['true', '1', 'yes']) {
      expect(() => skipWhenMissing('root (real mounts)', 'the bind tests', { CI: value })).toThrow('integration prerequisite missing on CI: root (real mounts) (the bind tests)');
    }
  });

  it('skips off CI with a message, and never when nothing is missing', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(skipWhenMissing('lvm2', 'the LVM tests', {})).toBe(true);
    expect(warn).toHaveBeenCalledWith('skipping the LVM tests: lvm2 is missing');
    expect(skipWhenMissing(undefined, 'the LVM tests', { CI: '1' })).toBe(false);
    expect(skipWhenMissing(undefined, 'the LVM tests', {})).toBe(false);
  });
});
