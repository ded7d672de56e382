import { describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { nfsBackend } from '../../src/backends/nfs.js';
import { pickBackend, volumeOf } from '../../src/volume-parameters.js';

describe('pickBackend', () => {
  const [bind, nfs] = [bindBackend(), nfsBackend()];
  it('takes the one backend, with or without a `backend` key naming it, and removes the key', () => {
    expect(pickBackend({ path: '/srv' }, [bind], 'options').name).toBe('bind');
    const parameters: Record<string, string> = { backend: 'bind', path: '/srv' };
    expect(pickBackend(parameters, [bind], 'options').name).toBe('bind');
    expect(parameters).toEqual({ path: '/srv' });
  });
  it('names the field when the key is missing among several, or names no backend served', () => {
    expect(() => pickBackend({}, [bind, nfs], 'volume_context')).toThrow('volume_context.backend: is required: this driver serves bind, nfs');
    expect(() => pickBackend({ backend: 'lvm' }, [bind, nfs], 'volume_context')).toThrow('volume_context.backend: must be one of bind, nfs');
    expect(() => pickBackend({ backend: 'nfs' }, [bind], 'options')).toThrow('options.backend: must be one of bind');
  });
});

describe('volumeOf', () => {
  it("names a backend's own field check under the caller's field", () => {
    expect(() => volumeOf(bindBackend(), { path: '/srv', subPath: '../etc' }, 'volume_context')).toThrow(/^volume_context\.subPath: must not contain "\.\."/);
    expect(() => volumeOf(bindBackend(), { path: 'relative' }, 'options')).toThrow(/^options\.path: /);
  });
  it('turns valid parameters into a volume', () => {
    expect(volumeOf(bindBackend(), { path: '/srv', subPath: 'a/b' }, 'options').volume).toMatchObject({ source: { backend: 'bind', path: '/srv' }, subPath: 'a/b' });
  });
});
