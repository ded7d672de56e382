import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { VolumeQueue } from '../../src/csi/volume-queue.js';
import { CsiStatusError, toServiceError } from '../../src/csi/status.js';
import { SharemountError, errorCodes } from '../../src/errors.js';

const never = Number.POSITIVE_INFINITY;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A piece of work that records when it runs, and finishes when told to. */
function gate(log: string[], name: string) {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, work: async () => { log.push(`${name} start`); await opened; log.push(`${name} end`); return name; } };
}

describe('VolumeQueue', () => {
  it('runs the calls for one volume one at a time, in order', async () => {
    const queue = new VolumeQueue(16);
    const log: string[] = [];
    const [a, b] = [gate(log, 'a'), gate(log, 'b')];
    const done = Promise.all([queue.run('v', never, a.work), queue.run('v', never, b.work)]);
    await sleep(10);
    expect(log).toEqual(['a start']);
    a.open();
    b.open();
    expect(await done).toEqual(['a', 'b']);
    expect(log).toEqual(['a start', 'a end', 'b start', 'b end']);
  });

  it('runs calls for different volumes in parallel', async () => {
    const queue = new VolumeQueue(16);
    const log: string[] = [];
    const [a, b] = [gate(log, 'a'), gate(log, 'b')];
    const done = Promise.all([queue.run('v1', never, a.work), queue.run('v2', never, b.work)]);
    await sleep(10);
    expect(log.sort()).toEqual(['a start', 'b start']);
    a.open();
    b.open();
    await done;
  });

  it('answers ABORTED once the line is full, and takes calls again when it drains', async () => {
    const queue = new VolumeQueue(1);
    const log: string[] = [];
    const [a, b] = [gate(log, 'a'), gate(log, 'b')];
    const running = queue.run('v', never, a.work);
    const waiting = queue.run('v', never, b.work);
    await expect(queue.run('v', never, async () => 'c')).rejects.toMatchObject({ code: status.ABORTED, message: expect.stringContaining('1 calls are already waiting') });
    a.open();
    b.open();
    await Promise.all([running, waiting]);
    expect(await queue.run('v', never, async () => 'd')).toBe('d');
  });

  it('answers ABORTED when the deadline passes while waiting, and never runs that call', async () => {
    const queue = new VolumeQueue(16);
    const log: string[] = [];
    const a = gate(log, 'a');
    const running = queue.run('v', never, a.work);
    let ran = false;
    await expect(queue.run('v', Date.now() + 30, async () => (ran = true))).rejects.toMatchObject({ code: status.ABORTED, message: expect.stringContaining('deadline') });
    await expect(queue.run('v', Date.now() - 1, async () => (ran = true))).rejects.toMatchObject({ code: status.ABORTED });
    a.open();
    await running;
    await sleep(10);
    expect(ran).toBe(false);
  });

  it('passes a failure of the work through and frees the line', async () => {
    const queue = new VolumeQueue(0);
    await expect(queue.run('v', never, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await queue.run('v', never, async () => 'next')).toBe('next');
  });
});

describe('toServiceError', () => {
  it('maps every error code to the status docs/errors.md gives it, keeping the message', () => {
    const expected: Record<string, status> = {
      INVALID_ARGUMENT: status.INVALID_ARGUMENT, NOT_FOUND: status.NOT_FOUND, ALREADY_EXISTS: status.ALREADY_EXISTS, FAILED_PRECONDITION: status.FAILED_PRECONDITION,
      RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED, OUT_OF_RANGE: status.OUT_OF_RANGE, TIMEOUT: status.DEADLINE_EXCEEDED, BUSY: status.ABORTED, BROKEN_MOUNT: status.INTERNAL,
      COMMAND_FAILED: status.INTERNAL, UNSUPPORTED: status.UNIMPLEMENTED, INTERNAL: status.INTERNAL,
    };
    for (const code of errorCodes) {
      const error = toServiceError(new SharemountError(code, `${code} happened`));
      expect([code, error.code]).toEqual([code, expected[code]]);
      expect(error.details).toBe(`${code} happened`);
    }
    expect(toServiceError(new CsiStatusError(status.ABORTED, 'full')).code).toBe(status.ABORTED);
    expect(toServiceError(new TypeError('a bug')).code).toBe(status.INTERNAL);
  });
});
