import { describe, expect, it } from 'vitest';
import { Deadline, withTimeout } from '../../src/timeout.js';

const never = () => new Promise<never>(() => {});
const errno = (code: string) => Object.assign(new Error(code), { code });

describe('Deadline', () => {
  it('bounds every call raced against it, each failing with TIMEOUT under its own name', async () => {
    const deadline = new Deadline(30);
    const started = Date.now();
    const results = await Promise.allSettled([deadline.bound(never(), 'checking the target'), deadline.bound(never(), 'opening subPath in the share')]);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(results.map((r) => r.status === 'rejected' && { code: r.reason.code, message: r.reason.message })).toEqual([
      { code: 'TIMEOUT', message: 'checking the target did not finish within 30 ms (is the mount hung?)' },
      { code: 'TIMEOUT', message: 'opening subPath in the share did not finish within 30 ms (is the mount hung?)' },
    ]);
  });

  it('counts from its creation, not from each call', async () => {
    const deadline = new Deadline(400);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    await expect(deadline.bound(never(), 'late')).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(300); // a bound of its own would take 400 ms
  });

  it('passes results and ordinary errors through, and turns a broken mount into BROKEN_MOUNT', async () => {
    const deadline = new Deadline(1_000);
    expect(await deadline.bound(Promise.resolve(7), 'x')).toBe(7);
    await expect(deadline.bound(Promise.reject(errno('ENOENT')), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(deadline.bound(Promise.reject(errno('ENOTCONN')), 'statfs')).rejects.toMatchObject({ code: 'BROKEN_MOUNT', message: 'statfs failed: the mount is broken (ENOTCONN)' });
    deadline.clear();
  });

  it('withTimeout is one call with a deadline of its own', async () => {
    await expect(withTimeout(never(), 20, 'reading')).rejects.toMatchObject({ code: 'TIMEOUT', message: 'reading did not finish within 20 ms (is the mount hung?)' });
    expect(await withTimeout(Promise.resolve('ok'), 20, 'reading')).toBe('ok');
  });
});
