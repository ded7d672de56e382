import { describe, expect, it } from 'vitest';
import { parseMkfsOptions } from '../../src/backends/lvm/mkfs-options.js';
import { lvmSourceSchema, parseLvmParameters } from '../../src/backends/lvm/schemas.js';
import { lvmBackend } from '../../src/backends/lvm.js';

describe('LVM volume parameters', () => {
  it('parses flat strings into typed parameters with defaults', () => {
    expect(parseLvmParameters({ volumeGroup: 'vg0', size: '1Gi', tags: 'b, a ,a', mountOptions: 'noatime,nodev,noatime' })).toEqual({
      volumeGroup: 'vg0',
      size: 1024 ** 3,
      fsType: 'ext4',
      tags: ['a', 'b'],
      mountOptions: ['noatime', 'nodev'],
    });
  });

  it('parses its own output to the same value', () => {
    const once = parseLvmParameters({ volumeGroup: 'vg0', logicalVolume: 'a', size: '1.5G', fsType: 'xfs', mkfsOptions: '-m crc=1 -K', thin: 'pool', tags: ['x=y'] });
    expect(parseLvmParameters(once)).toEqual(once);
  });

  it.each([
    [{}, 'parameters.volumeGroup'],
    [{ volumeGroup: '-vg' }, 'parameters.volumeGroup'],
    [{ volumeGroup: 'vg0', size: '10 GB' }, 'parameters.size'],
    [{ volumeGroup: 'vg0', size: -1 }, 'parameters.size'],
    [{ volumeGroup: 'vg0', size: 1.5 }, 'parameters.size'],
    [{ volumeGroup: 'vg0', fsType: 'btrfs' }, 'parameters.fsType'],
    [{ volumeGroup: 'vg0', thin: 'pool_tmeta' }, 'parameters.thin'],
    [{ volumeGroup: 'vg0', logicalVolume: 'snapshot1' }, 'parameters.logicalVolume'],
    [{ volumeGroup: 'vg0', tags: 'ok,-bad' }, 'parameters.tags.1'],
    [{ volumeGroup: 'vg0', mountOptions: 'bind' }, 'parameters.mountOptions.0'],
    [{ volumeGroup: 'vg0', mkfsOptions: '-F' }, 'parameters.mkfsOptions'],
    [{ volumeGroup: 'vg0', fstype: 'xfs' }, 'parameters.fstype'],
  ])('refuses %j naming %s', (input, field) => {
    expect(() => parseLvmParameters(input)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field }));
  });
});

describe('mkfsOptions', () => {
  it('splits allowed options into argv items', () => {
    expect(parseMkfsOptions('-m 0  -E lazy_itable_init=0,nodiscard -O ^has_journal -L data', 'ext4')).toEqual(['-m', '0', '-E', 'lazy_itable_init=0,nodiscard', '-O', '^has_journal', '-L', 'data']);
    expect(parseMkfsOptions('-m crc=1,reflink=1 -i size=512 -K', 'xfs')).toEqual(['-m', 'crc=1,reflink=1', '-i', 'size=512', '-K']);
    expect(parseMkfsOptions('', 'ext4')).toEqual([]);
    expect(parseMkfsOptions(undefined, 'xfs')).toEqual([]);
  });

  it.each([
    ['-F', 'ext4', 'not an allowed'], // force: would reformat
    ['-f', 'xfs', 'not an allowed'],
    ['-n', 'ext4', 'not an allowed'], // dry run
    ['-N', 'xfs', 'not an allowed'],
    ['-d /etc', 'ext4', 'not an allowed'], // populates from a host directory
    ['-p /etc/passwd', 'xfs', 'not an allowed'], // protofile reads a host file
    ['-z /tmp/undo', 'ext4', 'not an allowed'],
    ['-E offset=4096', 'ext4', 'sub-option "offset"'],
    ['-J device=/dev/sda', 'ext4', 'sub-option "device"'],
    ['-l logdev=/dev/sda', 'xfs', 'sub-option "logdev"'],
    ['-d file,name=/etc/x', 'xfs', 'sub-option "file"'],
    ['-m', 'ext4', 'needs a value'],
    ['-m -F', 'ext4', 'not another option'],
    ['-m 0 /dev/sda', 'ext4', 'not an allowed'],
    ['-L "my label"', 'ext4', 'quote'],
    ['-L $(reboot)', 'ext4', 'shell character'],
    ['-m 0; reboot', 'ext4', 'shell character'],
    ['-m\t0\n-F', 'ext4', 'printable ASCII'],
    ['-L waytoolongforextfour', 'ext4', 'at most 16'],
    ['-U not-a-uuid', 'ext4', 'UUID'],
    ['-E root_owner=0:0;x', 'ext4', 'shell character'],
    ['-E stride=1\u00a0', 'ext4', 'printable ASCII'],
    [`-L ${'a'.repeat(1100)}`, 'ext4', 'longer than 1024'],
    ['-b size=4096', 'ext4', 'whole number'],
    ['-b 4096', 'xfs', 'sub-option "4096"'],
    ['--help', 'xfs', 'not an allowed'],
    ['-constructor', 'xfs', 'not an allowed'],
  ])('refuses %j for %s naming the field', (input, fsType, problem) => {
    expect(() => parseMkfsOptions(input, fsType as 'ext4' | 'xfs', 'parameters.mkfsOptions')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'parameters.mkfsOptions', message: expect.stringContaining(problem) }),
    );
  });
});

describe('LVM source and toVolume', () => {
  const backend = lvmBackend();

  it('accepts its sources and refuses others', () => {
    expect(lvmSourceSchema.safeParse({ backend: 'lvm', vg: 'vg0', lv: 'a' }).success).toBe(true);
    expect(lvmSourceSchema.safeParse({ backend: 'lvm', vg: 'vg0', lv: 'a', fsType: 'xfs', mkfsOptions: '-K' }).success).toBe(true);
    for (const bad of [
      { backend: 'nfs', vg: 'vg0', lv: 'a' },
      { backend: 'lvm', vg: 'vg0', lv: 'pvmove0' },
      { backend: 'lvm', vg: 'vg/0', lv: 'a' },
      { backend: 'lvm', vg: 'vg0', lv: 'a', mkfsOptions: '-m 0' },
      { backend: 'lvm', vg: 'vg0', lv: 'a', fsType: 'ext4', mkfsOptions: '-F' },
      { backend: 'lvm', vg: 'vg0', lv: 'a', extra: 1 },
    ]) {
      expect(lvmSourceSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('lays a share out by VG, LV and filesystem', () => {
    expect(backend.layout({ backend: 'lvm', vg: 'vg0', lv: 'a' })).toEqual([['vg', 'vg0'], ['lv', 'a']]);
    expect(backend.layout({ backend: 'lvm', vg: 'vg0', lv: 'a', fsType: 'xfs', mkfsOptions: '-K' })).toEqual([['vg', 'vg0'], ['lv', 'a'], ['fs', 'xfs']]);
  });

  it('turns a created volume context into a source and mount options', () => {
    const spec = backend.toVolume(backend.parameters.parse({ volumeGroup: 'vg0', logicalVolume: 'pvc-1', fsType: 'xfs', mkfsOptions: '-K', mountOptions: 'noatime' }));
    expect(spec).toEqual({ source: { backend: 'lvm', vg: 'vg0', lv: 'pvc-1', fsType: 'xfs', mkfsOptions: '-K' }, options: ['noatime'] });
  });

  it('needs the LV to publish', () => {
    expect(() => backend.toVolume(backend.parameters.parse({ volumeGroup: 'vg0' }))).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'parameters.logicalVolume' }));
  });

  it('refuses a bad owner tag', () => {
    expect(() => lvmBackend({ ownerTag: 'a b' })).toThrow(expect.objectContaining({ field: 'ownerTag' }));
  });
});
