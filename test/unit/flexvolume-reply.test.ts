import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/temp-dirs.js';
import { SharemountError, invalidArgument } from '../../src/errors.js';
import { exitCodeOf, failure, failureFrom, notSupported, ReplyWriter, serialize, success } from '../../src/flexvolume/reply.js';


const tempDir = tempDirs('sharemount-reply-');

describe('replies', () => {
  it('Not supported is exactly {"status":"Not supported"}', () => {
    expect(serialize(notSupported)).toBe('{"status":"Not supported"}\n');
  });

  it('the exit code agrees with the status', () => {
    expect(exitCodeOf(success())).toBe(0);
    expect(exitCodeOf(notSupported)).toBe(0);
    expect(exitCodeOf(failure('x'))).toBe(1);
  });

  it('a failure message is one line and never empty', () => {
    expect(failure('first\n  second\n')).toEqual({ status: 'Failure', message: 'first; second' });
    expect(failure('  ')).toEqual({ status: 'Failure', message: 'failed (no message)' });
  });

  it('a SharemountError shows its own message; anything else is marked internal', () => {
    expect(failureFrom(invalidArgument('options.share', 'is required'))).toEqual({ status: 'Failure', message: 'options.share: is required' });
    expect(failureFrom(new SharemountError('TIMEOUT', 'mount timed out'))).toEqual({ status: 'Failure', message: 'mount timed out' });
    expect(failureFrom(new TypeError('x is undefined'))).toEqual({ status: 'Failure', message: 'internal error: x is undefined' });
    expect(failureFrom('a string')).toEqual({ status: 'Failure', message: 'internal error: a string' });
  });
});

describe('ReplyWriter', () => {
  it('writes exactly one JSON document, whatever is sent after it', () => {
    const file = join(tempDir(), 'out');
    const fd = openSync(file, 'w');
    try {
      const writer = new ReplyWriter(fd);
      expect(writer.replied).toBe(false);
      expect(writer.send(success({ capabilities: { attach: false, selinuxRelabel: false, supportsMetrics: false, fsGroup: false, requiresFSResize: false } }))).toMatchObject({ status: 'Success' });
      expect(writer.send(failure('too late'))).toMatchObject({ status: 'Success' });
      expect(writer.replied).toBe(true);
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')).toHaveLength(2);
    expect(JSON.parse(text)).toEqual({ status: 'Success', capabilities: { attach: false, selinuxRelabel: false, supportsMetrics: false, fsGroup: false, requiresFSResize: false } });
  });

  it.each([
    ['nothing', undefined, /handler answered undefined instead of a reply/],
    ['null', null, /handler answered null instead of a reply/],
    ['an object with no known status', { status: 'OK' }, /an object with no known status/],
    ['a reply that cannot be serialized', { status: 'Success', volumeNewSize: 10n }, /cannot be written as JSON/],
  ])('turns a handler answering %s into one Failure document', (_name, answer, message) => {
    const file = join(tempDir(), 'out');
    const fd = openSync(file, 'w');
    let sent;
    try {
      const writer = new ReplyWriter(fd);
      sent = writer.send(answer as never);
      writer.send(failure('a second reply'));
    } finally {
      closeSync(fd);
    }
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toEqual({ status: 'Failure', message: expect.stringMatching(message) });
    expect(exitCodeOf(sent!)).toBe(1);
  });
});
