import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/temp-dirs.js';
import { loadConfig } from '../../src/flexvolume/config.js';
import { pluginDirOf } from '../../src/flexvolume/plugin-dir.js';

const exe = '/usr/libexec/kubernetes/kubelet-plugins/volume/exec/example.com~nfs/nfs';
const other = '/opt/plugins/example.com~nfs/nfs';
const noFile = { SHAREMOUNT_CONFIG: '' };


const tempDir = tempDirs('sharemount-config-');

describe('loadConfig', () => {
  it('defaults: a root of the driver\'s own under /var/lib/sharemount/flexvolume, a log under /var/log/sharemount, 60 s', () => {
    const configFile = join(tmpdir(), 'does-not-exist-sharemount.json');
    expect(loadConfig(noFile, { configFile }, other, 'example.com/nfs')).toMatchObject({
      root: '/var/lib/sharemount/flexvolume/example.com~nfs',
      logFile: '/var/log/sharemount/example.com~nfs.log',
      logLevel: 'info',
      timeoutMs: 60_000,
      fsGroupChangePolicy: 'Always',
    });
  });

  it('environment over config file over the driver\'s defaults', () => {
    const file = join(tempDir(), 'flexvolume.json');
    writeFileSync(file, JSON.stringify({ root: '/srv/state', log: 'off', timeoutMs: 5000, fsGroupChangePolicy: 'OnRootMismatch' }));
    const defaults = { root: '/driver/root', timeoutMs: 9000, logLevel: 'debug' as const };
    expect(loadConfig({ SHAREMOUNT_CONFIG: file }, defaults, other, 'example.com/nfs')).toEqual({ root: '/srv/state', logFile: undefined, logLevel: 'debug', timeoutMs: 5000, fsGroupChangePolicy: 'OnRootMismatch' });
    const env = {
      SHAREMOUNT_CONFIG: file, SHAREMOUNT_ROOT: '/env/root', SHAREMOUNT_LOG: '/env/log', SHAREMOUNT_TIMEOUT_MS: '2000', SHAREMOUNT_FSGROUP_CHANGE_POLICY: 'Always',
    };
    expect(loadConfig(env, defaults, other, 'example.com/nfs')).toEqual({
      root: '/env/root',
      logFile: '/env/log',
      logLevel: 'debug',
      timeoutMs: 2000,
      fsGroupChangePolicy: 'Always',
    });
  });

  it.each([
    [{ SHAREMOUNT_ROOT: 'relative' }, /SHAREMOUNT_ROOT: must be an absolute path/],
    [{ SHAREMOUNT_TIMEOUT_MS: '10' }, /SHAREMOUNT_TIMEOUT_MS/],
    [{ SHAREMOUNT_LOG_LEVEL: 'loud' }, /SHAREMOUNT_LOG_LEVEL/],
    [{ SHAREMOUNT_FSGROUP_CHANGE_POLICY: 'onrootmismatch' }, /SHAREMOUNT_FSGROUP_CHANGE_POLICY/],
    [{ SHAREMOUNT_LOG: '/opt/plugins/example.com~nfs/driver.log' }, /log: .* is inside the plugin directory \/opt\/plugins/],
    [{ SHAREMOUNT_LOG: '/opt/plugins/other~driver/x.log' }, /inside the plugin directory/],
    [{ SHAREMOUNT_ROOT: '/usr/libexec/kubernetes/kubelet-plugins/volume/exec/state' }, /root: .* is inside the plugin directory/],
    [{ SHAREMOUNT_CONFIG: '/opt/plugins/config.json' }, /SHAREMOUNT_CONFIG: .* is inside the plugin directory/],
    [{ SHAREMOUNT_CONFIG: '/nonexistent/sharemount.json' }, /SHAREMOUNT_CONFIG: cannot read/],
  ])('refuses %o', (env, pattern) => {
    expect(() => loadConfig(env, {}, other, 'example.com/nfs')).toThrow(pattern);
  });

  it('the plugin directory is the parent of the vendor~driver directory', () => {
    expect(pluginDirOf(exe)).toBe('/usr/libexec/kubernetes/kubelet-plugins/volume/exec');
    expect(pluginDirOf('/opt/drivers/nfs')).toBe('/opt/drivers');
  });
});
