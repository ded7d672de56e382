import type { ChildProcess } from 'node:child_process';

/** Waits for `child` to exit; resolves at once when it already has. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Kills each process by its PID (SIGKILL also ends a SIGSTOPped one) and waits for it to go.
 * Only the processes a test started itself are ever passed here.
 */
export async function stopProcesses(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        return; // already gone
      }
      await exited(child);
    }),
  );
}
