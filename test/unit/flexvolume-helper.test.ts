import { describe, expect, it } from 'vitest';
import { defaultHelperDir, helperDirFrom, helperSocket, type HelperOutcome, type Launch } from '../../src/flexvolume/helper-protocol.js';
import { helperWanted } from '../../src/flexvolume/helper-start.js';
import { environmentKey } from '../../src/flexvolume/helper-server.js';
import { defaultPath } from '../../src/flexvolume/run-call.js';

const driver = { name: 'example.com/bind', backends: [] };
const launch = (outcome: HelperOutcome): Launch => ({ mode: 'call', build: 'b', socket: '/run/sharemount/example.com~bind.sock', outcome });

describe('the resident helper: where it listens, when a call starts one, which callers it serves', () => {
  it('socket: SHAREMOUNT_HELPER_DIR when absolute, /run/sharemount when unset or empty, none when relative or with a NUL', () => {
    expect(helperDirFrom(undefined)).toBe(defaultHelperDir);
    expect(helperDirFrom('')).toBe(defaultHelperDir);
    expect(helperDirFrom('/var/run/x')).toBe('/var/run/x');
    expect(helperDirFrom('run/x')).toBeUndefined();
    expect(helperDirFrom('/run/x\0y')).toBeUndefined();
    expect(helperSocket('/run/sharemount', 'example.com~nfs')).toBe('/run/sharemount/example.com~nfs.sock');
  });

  it('a call answered in its own process starts a helper only when none serves the socket, and never when turned off', () => {
    for (const outcome of ['absent', 'lost', 'declined:stale', 'declined:environment', 'declined:namespace'] as const) expect(helperWanted(driver, launch(outcome)), outcome).toBe(true);
    for (const outcome of ['off', 'unresponsive', 'declined:retiring', 'declined:malformed'] as const) expect(helperWanted(driver, launch(outcome)), outcome).toBe(false);
    expect(helperWanted({ ...driver, residentHelper: false }, launch('absent'))).toBe(false);
    expect(helperWanted(driver, { ...launch('absent'), socket: undefined })).toBe(false);
    expect(helperWanted(driver, { mode: 'serve', build: 'b', socket: '/s' })).toBe(false);
  });

  it('environments compare without the SHAREMOUNT_* settings, with PATH defaulted, in any order', () => {
    const base = environmentKey({ PATH: '/usr/bin', LVM_SYSTEM_DIR: '/etc/lvm' });
    expect(environmentKey({ LVM_SYSTEM_DIR: '/etc/lvm', PATH: '/usr/bin', SHAREMOUNT_TIMEOUT_MS: '5000', SHAREMOUNT_HELPER_SERVE: '1' })).toBe(base);
    expect(environmentKey({ PATH: '/usr/bin', LVM_SYSTEM_DIR: '/etc/lvm2' })).not.toBe(base);
    expect(environmentKey({ PATH: '/usr/bin', LVM_SYSTEM_DIR: '/etc/lvm', HOME: '/root' })).not.toBe(base);
    expect(environmentKey({})).toBe(environmentKey({ PATH: defaultPath }));
    expect(environmentKey({ A: undefined })).toBe(environmentKey({}));
    // What a shell sets for each command it runs does not count.
    expect(environmentKey({ PATH: '/usr/bin', LVM_SYSTEM_DIR: '/etc/lvm', _: '/usr/bin/xargs', SHLVL: '2', PWD: '/tmp', OLDPWD: '/' })).toBe(base);
  });
});
