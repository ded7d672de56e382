import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bindBackend } from '../../src/backends/bind.js';
import { SharemountError } from '../../src/errors.js';
import { checkManagerOptions, defaultTimeouts } from '../../src/manager-options.js';
import { MountManager } from '../../src/mount-manager.js';

const valid = { root: '/var/lib/sharemount', backends: [bindBackend()] };

function fieldOf(attempt: () => unknown): string | undefined {
  try {
    attempt();
  } catch (error) {
    expect(error).toBeInstanceOf(SharemountError);
    expect((error as SharemountError).code).toBe('INVALID_ARGUMENT');
    return (error as SharemountError).field;
  }
  throw new Error('expected a rejection');
}

describe('MountManager options', () => {
  it('fill the default timeouts and key the backends by name', () => {
    const checked = checkManagerOptions({ ...valid, timeouts: { fsMs: 2_000 } });
    expect(checked.timeouts).toEqual({ ...defaultTimeouts, fsMs: 2_000 });
    expect([...checked.backends.keys()]).toEqual(['bind']);
    expect(checked.backends.get('bind')).toBe(valid.backends[0]); // the caller's object, not a copy
  });

  it.each([
    ['root', { ...valid, root: 'relative/root' }],
    ['root', { ...valid, root: 42 }],
    ['backends', { root: valid.root }],
    ['backends.0.name', { ...valid, backends: [{ ...bindBackend(), name: 'Bind!' }] }],
    ['backends.0.mount', { ...valid, backends: [{ ...bindBackend(), mount: undefined }] }],
    // A zod 3 schema has safeParse but none of zod 4's internals, which the core parses with.
    ['backends.0.sourceSchema', { ...valid, backends: [{ ...bindBackend(), sourceSchema: { safeParse: () => ({ success: true }) } }] }],
    ['backends.1.name', { ...valid, backends: [bindBackend(), bindBackend()] }],
    ['logger', { ...valid, logger: console.log }],
    // Node fires a timer longer than 2^31-1 ms at once: every call would time out.
    ['timeouts.fsMs', { ...valid, timeouts: { fsMs: 2 ** 31 } }],
    ['timeouts.fsMs', { ...valid, timeouts: { fsMs: Number.POSITIVE_INFINITY } }],
    ['timeouts.commandMs', { ...valid, timeouts: { commandMs: 0 } }],
    ['timeouts.commandMs', { ...valid, timeouts: { commandMs: -5 } }],
    ['timeouts.lockMs', { ...valid, timeouts: { lockMs: 1.5 } }],
    ['timeouts.lockMs', { ...valid, timeouts: { lockMs: '60s' } }],
    ['timeouts.fs', { ...valid, timeouts: { fs: 10 } }],
    ['rooot', { ...valid, rooot: '/x' }],
  ])('refuse a bad %s, naming it, in the constructor', (field, options) => {
    expect(fieldOf(() => new MountManager(options as never))).toBe(field);
  });

  it('accept a backend whose source schema is written with classic zod', () => {
    const classic = { ...bindBackend(), sourceSchema: z.strictObject({ backend: z.literal('bind'), path: z.string() }) };
    expect(checkManagerOptions({ ...valid, backends: [classic] }).backends.get('bind')).toBe(classic);
  });

  it('accept a pino-shaped logger', () => {
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    expect(checkManagerOptions({ ...valid, logger }).logger).toBe(logger);
  });
});

describe('unpublish and reconcile options', () => {
  // A root that does not exist: a refused call must not even create it.
  const root = join(tmpdir(), `sharemount-never-created-${process.pid}`);
  const manager = new MountManager({ root, backends: [bindBackend()] });
  const rejection = async (call: Promise<unknown>) => {
    const error = await call.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SharemountError);
    return error as SharemountError;
  };

  it.each([[{ removeTarget: 'false' }, 'removeTarget'], [{ removeTraget: false }, 'removeTraget']])('unpublish refuses %j', async (options, field) => {
    expect(await rejection(manager.unpublish('/pods/p/vol', options as never))).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    expect(existsSync(root)).toBe(false);
  });

  it.each(['../../etc', '/etc', 'bind/../../x', '', 'bind//x'])('reconcile refuses the share key %j, which could lead out of the root', async (share) => {
    expect(await rejection(manager.reconcile({ share }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'share' });
    expect(existsSync(root)).toBe(false);
  });
});
