import { describe, expect, it } from 'vitest';
import { flagsOfMount, isRestrictedCopy, withCopiedFlags } from '../../src/mount-flags.js';

describe('per-mount flags', () => {
  it('reads the flags a mountinfo line shows, with strictatime when it shows no atime mode', () => {
    expect(flagsOfMount(['rw', 'nosuid', 'nodev', 'noexec', 'relatime'])).toEqual(['nosuid', 'nodev', 'noexec', 'relatime']);
    expect(flagsOfMount(['ro', 'noatime', 'nodiratime', 'nosymfollow'])).toEqual(['ro', 'noatime', 'nodiratime', 'nosymfollow']);
    expect(flagsOfMount(['rw'])).toEqual(['strictatime']);
  });

  it('gives a copy the restrictions of the mount it copies, whatever it asks for', () => {
    expect(withCopiedFlags(['ro'], ['nosuid', 'nodev', 'noexec', 'relatime'])).toEqual(['nodev', 'noexec', 'nosuid', 'relatime', 'ro']);
    // A copy is never less restricted than the original: asking for rw, suid, exec does not undo them.
    expect(withCopiedFlags(['exec', 'rw', 'suid'], ['ro', 'nosuid', 'noexec', 'noatime'])).toEqual(['noatime', 'noexec', 'nosuid', 'ro']);
  });

  it("keeps the copied access-time mode unless the copy names one, and adds what the copy asks for", () => {
    expect(withCopiedFlags(['nodev'], ['noatime', 'nodiratime'])).toEqual(['noatime', 'nodev', 'nodiratime']);
    expect(withCopiedFlags(['relatime'], ['noatime'])).toEqual(['relatime']);
    expect(withCopiedFlags(['ro'], [])).toEqual(['ro']);
  });

  it('tells whether a read-only copy shows every restriction it must', () => {
    const share = ['nosuid', 'nodev', 'relatime'];
    expect(isRestrictedCopy(['ro', 'nosuid', 'nodev', 'relatime'], share)).toBe(true);
    expect(isRestrictedCopy(['ro', 'relatime'], share)).toBe(false);
    expect(isRestrictedCopy(['rw', 'nosuid', 'nodev'], share)).toBe(false);
    expect(isRestrictedCopy(['ro'], ['relatime'])).toBe(true);
  });
});
