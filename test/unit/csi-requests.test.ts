import { describe, expect, it } from 'vitest';
import { splitMountFlags } from '../../src/csi/node-service.js';
import { checkCapability } from '../../src/csi/requests.js';

describe('splitMountFlags', () => {
  it('keeps flags whose names say they hold a secret out of the plain options', () => {
    expect(splitMountFlags(['vers=4.1', 'hard', 'password=hunter2', 'credentials=/etc/x', 'SecretKey=abc', 'token=t', 'noatime'])).toEqual({
      plain: ['vers=4.1', 'hard', 'noatime'],
      sensitive: ['password=hunter2', 'credentials=/etc/x', 'SecretKey=abc', 'token=t'],
    });
  });

  it('splits comma-joined items, and keeps an item with a secret-looking name in it sensitive whole (a secret may hold a comma)', () => {
    expect(splitMountFlags(['vers=4.1,hard', 'noatime'])).toEqual({ plain: ['vers=4.1', 'hard', 'noatime'], sensitive: [] });
    expect(splitMountFlags(['vers=4.1,password=hunter2', 'hard'])).toEqual({ plain: ['hard'], sensitive: ['vers=4.1', 'password=hunter2'] });
    expect(splitMountFlags(['password=Tr0ub4dor,horse9staple'])).toEqual({ plain: [], sensitive: ['password=Tr0ub4dor', 'horse9staple'] });
  });
});

describe('checkCapability', () => {
  const mount = { access_type: 'mount', mount: { fs_type: 'ext4', mount_flags: ['noatime'], volume_mount_group: '' } };
  it('reads a mount capability, and which access modes allow no writer', () => {
    expect(checkCapability({ ...mount, access_mode: { mode: 'MULTI_NODE_MULTI_WRITER' } })).toEqual({ block: false, fsType: 'ext4', mountFlags: ['noatime'], mode: 'MULTI_NODE_MULTI_WRITER', readerOnly: false });
    expect(checkCapability({ ...mount, access_mode: { mode: 'MULTI_NODE_READER_ONLY' } }).readerOnly).toBe(true);
    expect(checkCapability({ ...mount, access_mode: { mode: 'SINGLE_NODE_READER_ONLY' } }).readerOnly).toBe(true);
    for (const mode of ['SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER']) expect(checkCapability({ ...mount, access_mode: { mode } })).toMatchObject({ mode, readerOnly: false });
  });
  it('reads a block capability (whether its backend serves it is checked later, checkBackendServes)', () => {
    expect(checkCapability({ access_type: 'block', access_mode: { mode: 'SINGLE_NODE_WRITER' } })).toEqual({ block: true, fsType: '', mountFlags: [], mode: 'SINGLE_NODE_WRITER', readerOnly: false });
  });
  it.each([
    ['no capability', null, 'volume_capability: is required'],
    ['no access type', { access_mode: { mode: 'SINGLE_NODE_WRITER' } }, 'volume_capability: must have a mount or block access type'],
    ['no access mode', { ...mount, access_mode: null }, 'volume_capability.access_mode: is required'],
    ['an UNKNOWN access mode', { ...mount, access_mode: { mode: 'UNKNOWN' } }, 'volume_capability.access_mode: is required'],
    ['an access mode of a later spec', { ...mount, access_mode: { mode: 'EVERYONE_WRITES' } }, 'volume_capability.access_mode.mode: must be one of'],
  ])('refuses %s, naming the field', (_, capability, message) => {
    expect(() => checkCapability(capability as never)).toThrow(message);
  });
});
