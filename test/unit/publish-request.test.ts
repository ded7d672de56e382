import { describe, expect, it } from 'vitest';
import { checkPublishRequest } from '../../src/publish-request.js';
import { checkSubPath } from '../../src/subpath.js';
import { bindBackend } from '../../src/backends/bind.js';
import { SharemountError } from '../../src/errors.js';
import type { AnyBackend } from '../../src/backend.js';

const backends = new Map<string, AnyBackend>([['bind', bindBackend()]]);
const root = '/var/lib/sharemount';
const valid = { source: { backend: 'bind', path: '/srv/data' }, target: '/pods/p1/vol' };

function rejection(input: unknown): SharemountError {
  try {
    checkPublishRequest(input, backends, root);
  } catch (error) {
    expect(error).toBeInstanceOf(SharemountError);
    return error as SharemountError;
  }
  throw new Error('expected a rejection');
}

describe("checkPublishRequest: the backend's option checks", () => {
  it("name the caller's index, not the sorted list's", () => {
    expect(rejection({ ...valid, options: ['vers=4.1', 'nodev'] }).field).toBe('options[0]');
    expect(rejection({ ...valid, options: 'nosuid,nosuid,nosuid,zzz,nodev' }).field).toBe('options[3]');
    expect(rejection({ ...valid, options: 'nodev, zzz' }).message).toContain('"zzz" is not a bind-mount option');
  });

  it("never quote a plain option's value, which may be a secret nobody marked (pwd=...), whatever the backend's message says", () => {
    const own = rejection({ ...valid, options: 'nodev,pwd=HUNTER2' });
    expect(own.message).toContain('"pwd" is not a bind-mount option');
    expect(own.message).not.toContain('HUNTER2');
    // A backend of someone else's that quotes the option whole: the core shows its name only.
    const quoting: AnyBackend = { ...bindBackend(), checkOptions: (options, field) => {
      throw new SharemountError('INVALID_ARGUMENT', `${field}[0]: "${options[0]}" is refused`, { field: `${field}[0]` });
    } };
    const error = (() => {
      try {
        checkPublishRequest({ ...valid, options: 'pwd=HUNTER2' }, new Map([['bind', quoting]]), root);
      } catch (e) {
        return e as SharemountError;
      }
      throw new Error('expected a rejection');
    })();
    expect(error.message).toContain('"pwd=…" is refused');
    expect(error.message).not.toContain('HUNTER2');
  });

  it('apply to secret options too, without quoting them', () => {
    const error = rejection({ ...valid, options: 'nodev', sensitiveOptions: 'nosuid,hunter2=x' });
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'sensitiveOptions[1]' });
    expect(error.message).not.toContain('hunter2');
  });

  it('refuse a secret option that sets an option differently from options', () => {
    expect(rejection({ ...valid, options: 'ro', sensitiveOptions: 'nodev,rw' }).field).toBe('sensitiveOptions[1]');
    expect(checkPublishRequest({ ...valid, options: 'ro,nodev', sensitiveOptions: 'nodev' }, backends, root).sensitiveOptions).toEqual(['nodev']);
  });
});

describe('checkPublishRequest', () => {
  it('fills defaults', () => {
    const checked = checkPublishRequest(valid, backends, root);
    expect(checked).toMatchObject({ subPath: '', readOnly: false, strategy: 'bind', createIfNecessary: false, createMode: 0o755, options: [] });
    expect(checkPublishRequest({ ...valid, createMode: '0750', subPath: 'a//b/./c/' }, backends, root)).toMatchObject({ createMode: 0o750, subPath: 'a/b/c' });
  });

  it.each([
    ['subPath', { ...valid, subPath: '../etc' }],
    ['subPath', { ...valid, subPath: 'a/../../b' }],
    ['subPath', { ...valid, subPath: '/etc' }],
    ['subPath', { ...valid, subPath: 'a\0b' }],
    ['subPath', { ...valid, subPath: 'a\nb' }],
    ['subPath', { ...valid, subPath: 'x'.repeat(256) }],
    ['target', { ...valid, target: 'relative/path' }],
    ['target', { ...valid, target: '/pods/../etc' }],
    ['target', { ...valid, target: '/pods/p1/' }],
    ['target', { ...valid, target: '/var/lib/sharemount/x' }],
    ['target', { ...valid, target: '/var/lib' }],
    ['target', { ...valid, target: '/' }],
    ['source.backend', { ...valid, source: { backend: 'nope' } }],
    ['source.path', { ...valid, source: { backend: 'bind', path: 'relative' } }],
    ['source.path', { ...valid, source: { backend: 'bind', path: '/srv/../etc' } }],
    ['source.extra', { ...valid, source: { backend: 'bind', path: '/srv', extra: 1 } }],
    ['options[0]', { ...valid, options: ['-o'] }],
    ['options[0]', { ...valid, options: 'bind' }],
    ['options[0]', { ...valid, options: 'exec=x,y' }],
    ['createMode', { ...valid, createMode: '9999' }],
    ['createMode', { ...valid, createMode: 0o10000 }],
    ['strategy', { ...valid, strategy: 'copy' }],
    ['readOnly', { ...valid, strategy: 'symlink', readOnly: true }],
    ['unexpected', { ...valid, unexpected: true }],
  ])('names %s', (field, input) => {
    const error = rejection(input);
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('refuses options the bind backend cannot apply', () => {
    expect(rejection({ ...valid, options: 'vers=4.1' }).field).toBe('options[0]');
  });
});

describe('checkSubPath', () => {
  it('normalises harmless forms', () => {
    expect(checkSubPath(undefined)).toBe('');
    expect(checkSubPath('.')).toBe('');
    expect(checkSubPath('a/./b//')).toBe('a/b');
  });
});
