import { describe, expect, it } from 'vitest';
import { SharemountError } from '../../src/errors.js';
import { lvActivateArgs, lvcreateArgs, lvextendArgs, lvremoveArgs, lvSnapshotArgs, lvsAllArgs, lvsArgs, pvsArgs, segmentsArgs, vgsArgs } from '../../src/backends/lvm/commands.js';
import { parseLvTime } from '../../src/backends/lvm/reports.js';
import { classifyLvmError } from '../../src/backends/lvm/lvm-cli.js';
import { mkfsCommand, parseBlkidExport } from '../../src/backends/lvm/filesystem.js';
import { roundUp, thinPoolFreeBytes } from '../../src/backends/lvm/provisioning.js';

describe('lvm2 argv builders', () => {
  it('creates a linear LV with exact bytes, zeroing, wiping, tags, and the VG after --', () => {
    expect(lvcreateArgs({ vg: 'vg0', lv: 'pvc-1', sizeBytes: 104857600, tags: ['sharemount', 'team=a'] })).toEqual([
      '--name', 'pvc-1', '--type', 'linear', '--size', '104857600b', '--zero', 'y',
      '--wipesignatures', 'y', '--yes', '--addtag', 'sharemount', '--addtag', 'team=a', '--', 'vg0',
    ]);
  });

  // Thin pools need device-mapper, which this kernel lacks: the thin command is checked here only.
  it('creates a thin LV in a named pool with a virtual size', () => {
    expect(lvcreateArgs({ vg: 'vg0', lv: 'pvc-2', sizeBytes: 1073741824, thinPool: 'pool0', tags: ['sharemount'] })).toEqual([
      '--name', 'pvc-2', '--type', 'thin', '--virtualsize', '1073741824b', '--thinpool', 'pool0',
      '--wipesignatures', 'y', '--yes', '--addtag', 'sharemount', '--', 'vg0',
    ]);
  });

  it('extends, removes and activates vg/lv after --', () => {
    expect(lvextendArgs('vg0', 'a', 209715200)).toEqual(['--size', '209715200b', '--', 'vg0/a']);
    expect(lvremoveArgs('vg0', 'a')).toEqual(['--yes', '--', 'vg0/a']);
    expect(lvActivateArgs('vg0', 'a')).toEqual(['--activate', 'y', '--', 'vg0/a']);
  });

  it('asks reports in JSON, in bytes, without suffixes', () => {
    for (const args of [vgsArgs('vg0'), lvsArgs('vg0'), pvsArgs(), segmentsArgs('vg0', 'a')]) {
      expect(args.join(' ')).toContain('--reportformat json --units b --nosuffix --options ');
    }
    expect(vgsArgs('vg0').slice(-2)).toEqual(['--', 'vg0']);
    expect(lvsArgs('vg0').join(' ')).toContain('lv_tags,pool_lv,segtype,data_percent,lv_kernel_major,lv_kernel_minor,origin,lv_time -- vg0');
    expect(segmentsArgs('vg0', 'a')[0]).toBe('--segments');
  });

  it('formats quietly with the options as separate items and the device after --', () => {
    expect(mkfsCommand('ext4', ['-m', '0'], '/dev/vg0/a')).toEqual({ command: 'mkfs.ext4', args: ['-q', '-m', '0', '--', '/dev/vg0/a'] });
    expect(mkfsCommand('xfs', [], '/dev/vg0/a')).toEqual({ command: 'mkfs.xfs', args: ['-q', '--', '/dev/vg0/a'] });
  });
});

describe('helpers', () => {
  it('reads blkid export output', () => {
    expect(parseBlkidExport('DEVNAME=/dev/loop1\nUUID=1234\nBLOCK_SIZE=4096\nTYPE=ext4\n')).toEqual({ type: 'ext4' });
    expect(parseBlkidExport('DEVNAME=/dev/sdb\nPTUUID=ab\nPTTYPE=gpt\n')).toEqual({ partitionTable: 'gpt' });
    expect(parseBlkidExport('')).toEqual({});
  });

  it('rounds sizes up to whole extents', () => {
    expect(roundUp(1, 4194304)).toBe(4194304);
    expect(roundUp(4194304, 4194304)).toBe(4194304);
    expect(roundUp(10 * 1024 ** 2, 4194304)).toBe(12 * 1024 ** 2);
  });

  it('counts a thin pool free space rounding usage up', () => {
    expect(thinPoolFreeBytes(100 * 1024 ** 2, 0)).toBe(100 * 1024 ** 2);
    expect(thinPoolFreeBytes(100 * 1024 ** 2, 12.5)).toBe(91750400);
    expect(thinPoolFreeBytes(10_001, 33.33)).toBe(10_001 - 3334);
    expect(thinPoolFreeBytes(100, 100)).toBe(0);
  });
});

describe('lvm2 error classification', () => {
  const failure = (stderr: string) => new SharemountError('COMMAND_FAILED', 'lvm failed', { details: { stderr, exitCode: 5 } });
  it.each([
    ['  Volume group "nope" not found\n  Cannot process volume group nope', 'NOT_FOUND', 'volumeGroup'],
    ['  Pool pool not found in Volume group vg0.', 'NOT_FOUND', 'thin'],
    ['  Failed to find logical volume "vg0/x"', 'NOT_FOUND', undefined],
    ['  Volume group "vg0" has insufficient free space (227 extents): 2560 required.', 'RESOURCE_EXHAUSTED', undefined],
    ['  Insufficient suitable allocatable extents for logical volume x: 10 more required', 'RESOURCE_EXHAUSTED', undefined],
    ['  Cannot create new thin volume, free space in thin pool vg0/pool reached threshold.', 'RESOURCE_EXHAUSTED', undefined],
    ['  Logical Volume "a" already exists in volume group "vg0"', 'ALREADY_EXISTS', undefined],
    ['  Names starting "snapshot" are reserved. Please choose a different LV name.', 'INVALID_ARGUMENT', 'name'],
    ['  Logical volume vg0/a in use.', 'FAILED_PRECONDITION', undefined],
    ['  something else entirely', 'COMMAND_FAILED', undefined],
  ])('%j is %s', (stderr, code, field) => {
    const error = classifyLvmError(failure(`  WARNING: Activation disabled. No device-mapper interaction will be attempted.\n${stderr}`), { vg: 'vg0', lv: 'a', thin: 'pool' });
    expect(error).toMatchObject({ code });
    if (field !== undefined) expect(error).toMatchObject({ field });
    if (code !== 'COMMAND_FAILED') {
      expect((error as Error).message).toContain(stderr.trim().split('\n')[0]!.trim());
      expect((error as Error).message).not.toContain('WARNING');
    }
  });

  it('leaves timeouts and other errors alone', () => {
    const timeout = new SharemountError('TIMEOUT', 'lvm timed out');
    expect(classifyLvmError(timeout)).toBe(timeout);
  });
});

describe('snapshot commands', () => {
  it('a thick snapshot of a linear LV has copy-on-write space; a thin one none; a clone is made active like any LV', () => {
    expect(lvSnapshotArgs({ vg: 'vg0', origin: 'pvc-1', name: 'snap-1', cowBytes: 8388608, tags: ['sharemount', 'sharemount.snapshot', 'sharemount.source=pvc-1'] })).toEqual([
      '--snapshot', '--name', 'snap-1', '--size', '8388608b', '--yes', '--addtag', 'sharemount', '--addtag', 'sharemount.snapshot', '--addtag', 'sharemount.source=pvc-1', '--', 'vg0/pvc-1',
    ]);
    expect(lvSnapshotArgs({ vg: 'vg0', origin: 'thin-1', name: 'snap-2', tags: ['sharemount'] })).toEqual(['--snapshot', '--name', 'snap-2', '--yes', '--addtag', 'sharemount', '--', 'vg0/thin-1']);
    expect(lvSnapshotArgs({ vg: 'vg0', origin: 'snap-2', name: 'clone-1', activationSkip: false, tags: ['sharemount', 'sharemount.from-snapshot=snap-2'] })).toEqual([
      '--snapshot', '--name', 'clone-1', '--setactivationskip', 'n', '--yes', '--addtag', 'sharemount', '--addtag', 'sharemount.from-snapshot=snap-2', '--', 'vg0/snap-2',
    ]);
    expect(lvsAllArgs()).not.toContain('--');
  });

  it("reads lvm2's lv_time", () => {
    expect(parseLvTime('2026-12-06 17:50:42 +0000')).toBe(Date.parse('2026-12-06T17:50:42Z'));
    expect(parseLvTime('2026-12-06 18:50:42 +0100')).toBe(Date.parse('2026-12-06T17:50:42Z'));
    expect(parseLvTime('')).toBe(0);
  });
});
