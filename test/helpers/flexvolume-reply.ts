import { expect } from 'vitest';
import type { DriverRun } from './kubelet.js';

/**
 * The shim's output contract, for any call: stdout is exactly one JSON document on one line,
 * stderr is empty, and the exit code agrees with the status (0 for Success and Not supported,
 * 1 for Failure). Returns the reply.
 */
export function expectOneReply(run: DriverRun): Record<string, unknown> {
  expect(run.stderr, `stderr of ${run.args.join(' ')}`).toBe('');
  expect(run.stdout.endsWith('\n') && run.stdout.indexOf('\n') === run.stdout.length - 1, `one line: ${JSON.stringify(run.stdout)}`).toBe(true);
  expect(run.reply, `one JSON object: ${JSON.stringify(run.output)}`).toBeDefined();
  const reply = run.reply!;
  expect(['Success', 'Not supported', 'Failure']).toContain(reply.status);
  expect(run.exitCode).toBe(reply.status === 'Failure' ? 1 : 0);
  expect(run.signal).toBeNull();
  return reply;
}

/** A Failure reply whose message matches `pattern`. */
export function expectFailure(run: DriverRun, pattern: RegExp): string {
  const reply = expectOneReply(run);
  expect(reply.status, JSON.stringify(reply)).toBe('Failure');
  expect(String(reply.message)).toMatch(pattern);
  return String(reply.message);
}
