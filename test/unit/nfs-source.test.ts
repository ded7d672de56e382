import { describe, expect, it } from 'vitest';
import { nfsBackend } from '../../src/backends/nfs.js';
import { canonicalExport, canonicalServer, nfsDevice } from '../../src/backends/nfs/source.js';
import { SharemountError } from '../../src/errors.js';

const backend = nfsBackend();

describe('NFS source schema', () => {
  it('accepts hostnames, IPv4 and bracketed IPv6, in canonical form', () => {
    expect(backend.sourceSchema.parse({ backend: 'nfs', server: 'Filer.Example.COM.', export: '/srv//data/' })).toEqual({
      backend: 'nfs',
      server: 'filer.example.com',
      export: '/srv/data',
    });
    expect(backend.sourceSchema.parse({ backend: 'nfs', server: '10.0.0.7', export: '/' }).export).toBe('/');
    expect(backend.sourceSchema.parse({ backend: 'nfs', server: '[FD00:0:0::1]', export: '/x' }).server).toBe('[fd00::1]');
  });

  it('gives equal layouts for equal sources spelled differently', () => {
    const a = backend.sourceSchema.parse({ backend: 'nfs', server: 'NAS', export: '/a/./b/' });
    const b = backend.sourceSchema.parse({ backend: 'nfs', server: 'nas', export: '/a/b' });
    expect(backend.layout(a)).toEqual(backend.layout(b));
    expect(backend.layout(a)).toEqual([
      ['host', 'nas'],
      ['path', '/a/b'],
    ]);
  });

  it('writes the mount device as server:/export, IPv6 in brackets', () => {
    expect(nfsDevice({ backend: 'nfs', server: '[::1]', export: '/e' })).toBe('[::1]:/e');
    expect(nfsDevice({ backend: 'nfs', server: 'nas', export: '/e' })).toBe('nas:/e');
  });

  const hostileServers: Array<[string, RegExp]> = [
    ['-oremount', /starts with "-"/],
    ['', /empty/],
    ['fd00::1', /without brackets/],
    ['[not-v6]', /bracketed IPv6/],
    ['[fe80::1%eth0]', /bracketed IPv6/],
    ['999.1.1.1', /IPv4/],
    ['127.1', /IPv4/],
    ['host name', /not a hostname/],
    ['nas:/export', /not a hostname/],
    ['nas\n', /not a hostname/],
    ['a'.repeat(64), /not a hostname/],
    ['under_score', /not a hostname/],
  ];
  for (const [server, problem] of hostileServers) {
    it(`refuses server ${JSON.stringify(server)} naming the field`, () => {
      const result = backend.sourceSchema.safeParse({ backend: 'nfs', server, export: '/e' });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['server']);
      expect(result.error?.issues[0]?.message).toMatch(problem);
    });
  }

  const hostileExports: Array<[string, RegExp]> = [
    ['relative/path', /absolute/],
    ['', /absolute/],
    ['/a/../../etc', /".."/],
    ['/a/..', /".."/],
    ['/a\u0000b', /control character/],
    ['/a\nb', /control character/],
    [`/${'x'.repeat(1100)}`, /longer than/],
  ];
  for (const [exportPath, problem] of hostileExports) {
    it(`refuses export ${JSON.stringify(exportPath.slice(0, 20))} naming the field`, () => {
      const result = backend.sourceSchema.safeParse({ backend: 'nfs', server: 'nas', export: exportPath });
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.path).toEqual(['export']);
      expect(result.error?.issues[0]?.message).toMatch(problem);
    });
  }

  it('refuses other backends and unknown fields', () => {
    expect(backend.sourceSchema.safeParse({ backend: 'bind', server: 'nas', export: '/e' }).success).toBe(false);
    expect(backend.sourceSchema.safeParse({ backend: 'nfs', server: 'nas', export: '/e', path: '/x' }).success).toBe(false);
  });

  it('canonical forms are idempotent', () => {
    for (const s of ['nas', '10.1.2.3', '[::ffff:1.2.3.4]', 'a-b.c-d.example']) {
      const once = canonicalServer(s);
      expect('server' in once).toBe(true);
      if ('server' in once) expect(canonicalServer(once.server)).toEqual(once);
    }
    for (const e of ['/', '/a', '/a/b/', '//a//b']) {
      const once = canonicalExport(e);
      if ('export' in once) expect(canonicalExport(once.export)).toEqual(once);
      else throw new Error(`refused ${e}`);
    }
  });
});

describe('NFS options', () => {
  it('passes NFS options through and refuses bg', () => {
    expect(() => backend.checkOptions(['hard', 'nfsvers=4.1', 'port=2049', 'timeo=600'], 'options')).not.toThrow();
    const error = (() => {
      try {
        backend.checkOptions(['hard', 'bg'], 'options');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SharemountError);
    expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'options[1]' });
    expect((error as Error).message).toMatch(/options\[1\].*"bg"/);
  });
});
