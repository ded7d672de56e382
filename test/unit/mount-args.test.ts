import { describe, expect, it } from 'vitest';
import { buildMountArgs } from '../../src/mount-command.js';
import { describe as describeCommand } from '../../src/exec.js';
import { parseMountInfo, topMounts } from '../../src/mountinfo.js';

describe('buildMountArgs', () => {
  it('puts options in one -o item and ends flags before the paths', () => {
    expect(buildMountArgs({ fsType: 'nfs', source: '10.0.0.1:/x', target: '/t', options: ['ro', 'vers=4.1'] })).toEqual([
      '-t', 'nfs', '-o', 'ro,vers=4.1', '--', '10.0.0.1:/x', '/t',
    ]);
    expect(buildMountArgs({ bind: true, noCanonicalize: true, source: '-weird', target: '/t' })).toEqual(['--bind', '--no-canonicalize', '--', '-weird', '/t']);
  });

  it('passes sensitive options but never shows them', () => {
    const args = buildMountArgs({ fsType: 'cifs', source: '//s/x', target: '/t', options: ['ro'], sensitiveOptions: ['password=hunter2'] });
    expect(args).toContain('ro,password=hunter2');
    expect(describeCommand('mount', args, ['password=hunter2'])).not.toContain('hunter2');
  });
});

describe('parseMountInfo', () => {
  const text = [
    '22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '40 22 253:0 /srv/data /var/lib/sm/bind/mnt rw,relatime shared:2 - ext4 /dev/vda rw',
    '41 22 253:0 /srv/data/with\\040space /pods/a\\040b ro,relatime - ext4 /dev/vda rw',
    '42 22 0:50 / /pods/a\\040b rw - tmpfs tmpfs rw',
  ].join('\n');

  it('reads fields and unescapes octal', () => {
    const entries = parseMountInfo(text);
    expect(entries).toHaveLength(4);
    expect(entries[2]).toMatchObject({ device: '253:0', root: '/srv/data/with space', mountPoint: '/pods/a b', fsType: 'ext4' });
    expect(entries[2]!.mountOptions).toContain('ro');
  });

  it('the last mount on a path is the visible one', () => {
    expect(topMounts(parseMountInfo(text)).get('/pods/a b')?.fsType).toBe('tmpfs');
  });
});
