/**
 * The bound on one whole call. kubelet waits for `mount` and `unmount` forever, so a call that
 * hangs (a dead NFS server, a stuck lock holder) would hold kubelet's volume operation for that
 * pod forever; when the deadline passes the shim replies Failure and exits instead.
 */
export function startDeadline(timeoutMs: number, onExpired: () => void): { cancel(): void } {
  const timer = setTimeout(onExpired, timeoutMs);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
}

/**
 * The core's own bounds, derived from the call's deadline so that a failing step reports its
 * own error (which names the command or the lock) before the deadline cuts the call short.
 */
export function coreTimeouts(deadlineMs: number): { commandMs: number; lockMs: number; fsMs: number } {
  return {
    commandMs: Math.max(500, Math.floor(deadlineMs / 5)),
    lockMs: Math.max(500, Math.floor(deadlineMs / 5)),
    fsMs: Math.max(500, Math.floor(deadlineMs / 10)),
  };
}
