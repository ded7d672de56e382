import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalOptions } from '../../src/options.js';
import { checkShareRequest } from '../../src/publish-request.js';
import { bindBackend } from '../../src/backends/bind.js';
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

  describe('contradictory flags', () => {
    const accepted = (option: string) => {
      try {
        canonicalOptions([option], 'o');
        return true;
      } catch {
        return false;
      }
    };
    // Every pair mount(8) (and nfs(5)) has whose two members undo each other.
    const pairs: [string, string][] = [
      ['ro', 'rw'], ['suid', 'nosuid'], ['exec', 'noexec'], ['dev', 'nodev'], ['atime', 'noatime'], ['sync', 'async'],
      ['diratime', 'nodiratime'], ['relatime', 'norelatime'], ['strictatime', 'nostrictatime'], ['lazytime', 'nolazytime'],
      ['iversion', 'noiversion'], ['mand', 'nomand'], ['auto', 'noauto'], ['symfollow', 'nosymfollow'], ['silent', 'loud'],
      ['nousers', 'users'], ['noowner', 'owner'], ['nogroup', 'group'], ['nouser', 'user'],
      ['noatime', 'relatime'], ['noatime', 'strictatime'], ['relatime', 'strictatime'],
      ['hard', 'soft'], ['soft', 'softerr'], ['tcp', 'udp'], ['ac', 'noac'], ['lock', 'nolock'], ['acl', 'noacl'],
    ];
    const others = fc.uniqueArray(fc.constantFrom('vers=4.1', 'timeo=600', 'nodiratime', 'lazytime', 'proto=tcp', 'x=1'), { maxLength: 4 });

    it('refuses each pair in any order, among any other options, naming both and the list', () => {
      fc.assert(
        fc.property(fc.constantFrom(...pairs), others, fc.boolean(), fc.boolean(), ([a, b], rest, swap, asString) => {
          const list = [...rest.filter((o) => o !== a && o !== b), ...(swap ? [b, a] : [a, b])];
          const run = () => canonicalOptions(asString ? list.join(',') : list, 'options');
          // `user`, `users`, `owner` and `group` are refused on their own already, naming their item.
          if (['user', 'users', 'owner', 'group'].some((reserved) => reserved === a || reserved === b)) {
            expect(fieldOf(run)).toMatch(/^options\[\d+\]$/);
            return;
          }
          expect(fieldOf(run)).toBe('options');
          expect(run).toThrow(/has both "[^"]+" and "[^"]+"$/);
          expect(run).toThrow(`"${a}"`);
          expect(run).toThrow(`"${b}"`);
        }),
      );
    });

    it('refuses any flag with its "no" form, a filesystem\'s own included', () => {
      fc.assert(
        fc.property(fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/), (flag) => {
          // Reserved names are refused on their own, before any pair is looked at.
          fc.pre([flag, `no${flag}`].every((alone) => accepted(alone)));
          const run = () => canonicalOptions([`no${flag}`, flag], 'options');
          expect(run).toThrow(`options: has both "${flag}" and "no${flag}"`);
        }),
      );
    });

    it('gives the same error whichever order the pair came in', () => {
      const message = (list: string) => {
        try {
          canonicalOptions(list, 'options');
        } catch (error) {
          return (error as Error).message;
        }
        return 'accepted';
      };
      expect(message('nosuid,suid')).toBe('options: has both "suid" and "nosuid"');
      expect(message('suid,nosuid')).toBe('options: has both "suid" and "nosuid"');
      expect(message('async,vers=3,sync')).toBe('options: has both "sync" and "async"');
      expect(message('strictatime,noatime')).toBe('options: has both "noatime" and "strictatime"');
    });

    it('keeps what does not contradict: a mode with an unrelated flag, nodiratime with any atime mode', () => {
      expect(canonicalOptions('noatime,nodiratime,lazytime,nosuid,nodev,noexec,sync,dirsync', 'options'))
        .toEqual(['dirsync', 'lazytime', 'noatime', 'nodev', 'nodiratime', 'noexec', 'nosuid', 'sync']);
      expect(canonicalOptions('atime,relatime', 'options')).toEqual(['atime', 'relatime']);
      expect(canonicalOptions('norelatime,strictatime', 'options')).toEqual(['norelatime', 'strictatime']);
    });

    it('does not quote a sensitive list\'s names, and names its items instead', () => {
      expect(() => canonicalOptions(['x', 'nohunter2', 'hunter2'], 'sensitiveOptions', true))
        .toThrow(/^sensitiveOptions: has two options that contradict each other: sensitiveOptions\[2\] and sensitiveOptions\[1\]$/);
    });

    it('refuses a pair split across options and sensitiveOptions', () => {
      const backends = new Map([['bind', bindBackend({ allowedPaths: ['/'] })]]);
      const request = (options: string, sensitiveOptions: string) => checkShareRequest({ source: { backend: 'bind', path: '/srv' }, options, sensitiveOptions }, backends as never);
      expect(() => request('nosuid', 'suid')).toThrow(/^sensitiveOptions\[0\]: sets option "suid" in a way that contradicts "nosuid" in options$/);
      expect(() => request('ro', 'rw')).toThrow(/^sensitiveOptions\[0\]: .*contradicts "ro" in options$/);
      expect(() => request('nosuid', 'noexec')).not.toThrow();
    });
  });
});
