import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalOptions } from '../../src/options.js';
import { SharemountError } from '../../src/errors.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SharemountError);
    expect((error as SharemountError).code).toBe('INVALID_ARGUMENT');
    return (error as SharemountError).field;
  }
  throw new Error('expected an error');
}

describe('canonicalOptions', () => {
  it('sorts and de-duplicates: a=1,b equals b,a=1,b', () => {
    expect(canonicalOptions('a=1,b', 'options')).toEqual(canonicalOptions('b,a=1,b', 'options'));
    expect(canonicalOptions(['vers=4.1', 'ro'], 'o')).toEqual(['ro', 'vers=4.1']);
    expect(canonicalOptions(' ro , vers=4.1,', 'o')).toEqual(['ro', 'vers=4.1']);
    expect(canonicalOptions(undefined, 'o')).toEqual([]);
  });

  it('gives equal sets equal keys whatever the order and duplication', () => {
    const option = fc.constantFrom('ro', 'noatime', 'vers=4.1', 'proto=tcp', 'timeo=600', 'hard', 'nosuid');
    fc.assert(
      fc.property(fc.uniqueArray(option, { maxLength: 7 }), fc.array(fc.nat(), { maxLength: 10 }), (set, dupes) => {
        const withDupes = [...set, ...dupes.filter(() => set.length > 0).map((n) => set[n % set.length]!)];
        const shuffled = [...withDupes].sort(() => 0.5 - Math.random());
        expect(canonicalOptions(shuffled, 'o')).toEqual(canonicalOptions(set, 'o'));
        expect(canonicalOptions(shuffled.join(','), 'o')).toEqual([...set].sort());
      }),
    );
  });

  it('never lets an option become an argument or a second option', () => {
    expect(fieldOf(() => canonicalOptions(['-o'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions(['ro', '--bind'], 'options'))).toBe('options[1]');
    expect(fieldOf(() => canonicalOptions(['a=b,c'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions(['a=b c'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions(['a=b\nc'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions(['a=\0'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions(['context="x"'], 'options'))).toBe('options[0]');
    expect(fieldOf(() => canonicalOptions([''], 'options'))).toBe('options[0]');
  });

  it('refuses options that change what mount(8) does', () => {
    const propagation = ['shared', 'rshared', 'private', 'rprivate', 'slave', 'rslave', 'unbindable', 'runbindable', 'Shared'];
    for (const option of ['bind', 'rbind', 'remount', 'move', 'loop', 'X-mount.mkdir', 'x-systemd.automount', 'helper=foo', 'user', 'owner', ...propagation]) {
      expect(fieldOf(() => canonicalOptions(['ro', option], 'options')), option).toBe('options[1]');
    }
  });

  it('refuses conflicting values', () => {
    expect(fieldOf(() => canonicalOptions('vers=3,vers=4', 'options'))).toBe('options[1]');
    expect(fieldOf(() => canonicalOptions('ro,rw', 'options'))).toBe('options');
  });

  it('never quotes a sensitive option in an error', () => {
    try {
      canonicalOptions(['password=hunter2 x'], 'sensitiveOptions', true);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
      expect((error as SharemountError).field).toBe('sensitiveOptions[0]');
    }
  });

  it('never quotes the value of a plain option either: a secret joined into it by a comma stays out of the error', () => {
    expect(() => canonicalOptions(['vers=4.1,password=hunter2'], 'options')).toThrow(new RegExp('^options\\[0\\]: "vers=…" has a value with a character outside'));
    expect(() => canonicalOptions(['bad name'], 'options')).toThrow('"bad name" has a name outside');
    expect(() => canonicalOptions(['username=alice%Sekr1t', 'username=alice'], 'options')).toThrow(/^options\[1\]: sets option "username" twice with different values$/);
  });
});
