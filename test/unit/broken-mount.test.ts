import { describe, expect, it } from 'vitest';
import { errnoName, isBrokenMountError, isBrokenMountMessage } from '../../src/broken-mount.js';

describe('the broken-mount classifier', () => {
  const errnos = ['ENOTCONN', 'ESTALE', 'EIO', 'EHOSTDOWN', 'EACCES', 'ENXIO'];

  it('takes the errnos of a mount whose backing store is gone, and not those of a wrong path', () => {
    for (const code of errnos) expect(isBrokenMountError(Object.assign(new Error(code), { code }))).toBe(true);
    for (const code of ['ENOENT', 'ENOTDIR', 'ELOOP', 'EINVAL', undefined]) expect(isBrokenMountError(Object.assign(new Error('x'), { code }))).toBe(false);
    expect(isBrokenMountError(undefined)).toBe(false);
  });

  it('takes ESTALE as Node reports it: no code of libuv\'s, only its number', async () => {
    // What fs calls reject with on a stale NFS handle (seen from a FUSE daemon answering ESTALE).
    const estale = Object.assign(new Error('Unknown system error -116'), { errno: -116, code: 'Unknown system error -116' });
    expect(isBrokenMountError(estale)).toBe(true);
    expect(errnoName(estale)).toBe('ESTALE');
    expect(isBrokenMountError(Object.assign(new Error('x'), { errno: -2, code: 'ENOENT' }))).toBe(false);
  });

  it('recognises the same errnos in a command\'s message, by the C locale\'s strerror() text', () => {
    // What stat -f prints for each, as volumeStats sees it: the same set as the errno classifier.
    const messages = [
      "stat: cannot read file system information for '/m': Transport endpoint is not connected",
      "stat: cannot read file system information for '/m': Stale file handle",
      "stat: cannot read file system information for '/m': Input/output error",
      "stat: cannot read file system information for '/m': Host is down",
      "stat: cannot read file system information for '/m': Permission denied",
      "stat: cannot read file system information for '/m': No such device or address",
    ];
    expect(messages).toHaveLength(errnos.length);
    for (const message of messages) expect(isBrokenMountMessage(message)).toBe(true);
    expect(isBrokenMountMessage("stat: cannot read file system information for '/m': No such file or directory")).toBe(false);
  });
});
