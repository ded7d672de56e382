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

export function isBrokenMountError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && brokenMountErrnos.has(code);
}

/** Whether a command's message (run with LC_ALL=C) reports one of those errnos. */
export function isBrokenMountMessage(message: string): boolean {
  for (const text of brokenMountErrnos.values()) if (message.includes(text)) return true;
  return false;
}
