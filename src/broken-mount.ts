import { constants } from 'node:os';
/**
 * The errno values a mount gives when its backing store is gone or unreachable rather than when
 * a path is merely wrong (the same set kubernetes' mount-utils calls a corrupted mount). One
 * classifier, used everywhere a path under a share is touched, with each errno's strerror()
 * text for the places that only see a command's message (`stat -f` in volume-stats.ts).
 */
const brokenMountErrnos = new Map([
  ['ENOTCONN', 'Transport endpoint is not connected'],
  ['ESTALE', 'Stale file handle'],
  ['EIO', 'Input/output error'],
  ['EHOSTDOWN', 'Host is down'],
  ['EACCES', 'Permission denied'],
  ['ENXIO', 'No such device or address'],
]);

// libuv has no name for ESTALE: Node reports it as "Unknown system error -116", with no such
// `code`, so the classifier also goes by number (a stale NFS handle was otherwise not seen as broken).
const brokenMountErrnoNumbers = new Set([...brokenMountErrnos.keys()].map((name) => (constants.errno as Record<string, number | undefined>)[name]).filter((n) => n !== undefined));

export function isBrokenMountError(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code === 'string' && brokenMountErrnos.has(code)) return true;
  return typeof errno === 'number' && brokenMountErrnoNumbers.has(-errno);
}

/** The errno's name (ESTALE), also where Node has none for it. */
export function errnoName(error: unknown): string | undefined {
  const { code, errno } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof errno === 'number') {
    for (const [name, number] of Object.entries(constants.errno)) if (number === -errno) return name;
  }
  return code;
}

/** Whether a command's message (run with LC_ALL=C) reports one of those errnos. */
export function isBrokenMountMessage(message: string): boolean {
  for (const text of brokenMountErrnos.values()) if (message.includes(text)) return true;
  return false;
}
