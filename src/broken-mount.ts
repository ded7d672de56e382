/**
 * The errno values a mount gives when its backing store is gone or unreachable rather than when
 * a path is merely wrong (the same set kubernetes' mount-utils calls a corrupted mount). One
 * classifier, used everywhere a path under a share is touched.
 */
const brokenMountErrnos = new Set(['ENOTCONN', 'ESTALE', 'EIO', 'EHOSTDOWN', 'EACCES', 'ENXIO']);

export function isBrokenMountError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && brokenMountErrnos.has(code);
}
