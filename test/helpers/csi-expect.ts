import { status } from '@grpc/grpc-js';
import { expect } from 'vitest';

// Kept apart from csi-client.ts, which the benchmark imports outside vitest.
/** Asserts that a call fails with `code` and a message containing `text`. */
export async function expectStatus(call: Promise<unknown>, code: status, text: string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: { code: status; details: string }) => e,
  );
  expect(error, `expected ${status[code]} (${text})`).toBeDefined();
  expect(status[error!.code]).toBe(status[code]);
  expect(error!.details).toContain(text);
}
