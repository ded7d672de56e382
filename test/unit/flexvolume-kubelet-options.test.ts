import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseVolumeOptions, redactOptions } from '../../src/flexvolume/kubelet-options.js';
import { goJsonMarshal } from '../helpers/kubelet.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('parseVolumeOptions: the JSON argument as kubelet sends it', () => {
  it('types every kubelet key and keeps the rest as the driver options', () => {
    const parsed = parseVolumeOptions(
      goJsonMarshal({
        'kubernetes.io/fsType': 'xfs',
        'kubernetes.io/readwrite': 'ro',
        'kubernetes.io/pvOrVolumeName': 'pv-7',
        'kubernetes.io/pod.name': 'web-0',
        'kubernetes.io/pod.namespace': 'team-a',
        'kubernetes.io/pod.uid': '0c0a2f1e-8a3b-4c57-9d1a-6a4c2b7f9e10',
        'kubernetes.io/serviceAccount.name': 'builder',
        'kubernetes.io/mounterArgs.FsGroup': '2000',
        'kubernetes.io/secret/password': b64('p&ss<w>rd'),
        share: 'nfs.example.com:/exports',
        subPath: 'a/b',
      }),
    );
    expect(parsed.kubelet).toEqual({
      fsType: 'xfs',
      readOnly: true,
      pvOrVolumeName: 'pv-7',
      pod: { name: 'web-0', namespace: 'team-a', uid: '0c0a2f1e-8a3b-4c57-9d1a-6a4c2b7f9e10' },
      serviceAccountName: 'builder',
      fsGroup: 2000,
      secrets: { password: 'p&ss<w>rd' },
      secretBytes: { password: Buffer.from('p&ss<w>rd') },
    });
    expect(parsed.driverOptions).toEqual({ share: 'nfs.example.com:/exports', subPath: 'a/b' });
    expect(parsed.unknownKubeletKeys).toEqual([]);
  });

  it('defaults: rw, no fsType for an empty string, no fsGroup when the pod sets none', () => {
    const parsed = parseVolumeOptions('{"kubernetes.io/fsType":"","path":"/srv"}');
    expect(parsed.kubelet).toMatchObject({ fsType: undefined, readOnly: false, fsGroup: undefined, secrets: {} });
  });

  it('accepts what kubelet really sends: an fsType as written in the spec, large secrets, many secret keys', () => {
    expect(parseVolumeOptions('{"kubernetes.io/fsType":"NFS"}').kubelet.fsType).toBe('NFS');
    const bundle = Buffer.alloc(20_000, 'c').toString('base64'); // a CA bundle
    expect(parseVolumeOptions(JSON.stringify({ 'kubernetes.io/secret/ca.crt': bundle })).kubelet.secrets['ca.crt']).toHaveLength(20_000);
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`kubernetes.io/secret/k${i}`, 'eA==']));
    expect(Object.keys(parseVolumeOptions(JSON.stringify(many)).kubelet.secrets)).toHaveLength(300);
    // A static pod keeps the UID its manifest names, whatever its form.
    expect(parseVolumeOptions('{"kubernetes.io/pod.uid":"static-web-1"}').kubelet.pod.uid).toBe('static-web-1');
  });

  it('hands binary secret values over as bytes too (secretBytes), unchanged', () => {
    const raw = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
    const parsed = parseVolumeOptions(JSON.stringify({ 'kubernetes.io/secret/keytab': raw.toString('base64') }));
    expect(parsed.kubelet.secretBytes.keytab).toEqual(raw);
    expect(parsed.kubelet.secrets.keytab).toBe(raw.toString('utf8'));
  });

  it('sets aside kubernetes.io/ keys it does not know (a newer kubelet), never passing them to the backend', () => {
    const parsed = parseVolumeOptions('{"kubernetes.io/somethingNew":"x","a":"b"}');
    expect(parsed.unknownKubeletKeys).toEqual(['kubernetes.io/somethingNew']);
    expect(parsed.driverOptions).toEqual({ a: 'b' });
  });

  it.each([
    ['not JSON', '{', /^options: is not valid JSON/],
    ['an array', '["a"]', /^options: must be a JSON object of string values$/],
    ['null', 'null', /^options: must be a JSON object/],
    ['a number value', '{"size":5}', /^options\.size: must be a string/],
    ['a nested object', '{"a":{"b":"c"}}', /^options\.a: must be a string/],
    ['readwrite other than ro/rw', '{"kubernetes.io/readwrite":"yes"}', /options\.kubernetes\.io\/readwrite: must be "ro" or "rw"/],
    ['a negative fsGroup', '{"kubernetes.io/mounterArgs.FsGroup":"-5"}', /FsGroup: must be a group id/],
    ['a huge fsGroup', '{"kubernetes.io/mounterArgs.FsGroup":"4294967295"}', /FsGroup: must be at most 4294967294/],
    ['a pod name with a slash', '{"kubernetes.io/pod.name":"a/b"}', /pod\.name: must be a DNS-1123 subdomain/],
    ['an fsType with a space', '{"kubernetes.io/fsType":"ext4 -F"}', /fsType: must be a filesystem type name/],
    ['a secret that is not base64', '{"kubernetes.io/secret/k":"***"}', /secret\/k: must be base64/],
    ['a secret key with a slash', '{"kubernetes.io/secret/a/b":"eA=="}', /secret key must match/],
    ['an empty key', '{"":"x"}', /empty key/],
    ['a pod UID with a newline', '{"kubernetes.io/pod.uid":"a\\nb"}', /pod\.uid: must be a UID/],
  ])('refuses %s, naming the field', (_name, json, pattern) => {
    expect(() => parseVolumeOptions(json)).toThrow(pattern);
    try {
      parseVolumeOptions(json);
    } catch (error) {
      expect(error).toMatchObject({ name: 'SharemountError', code: 'INVALID_ARGUMENT' });
    }
  });

  it('never puts a value into an error message (a secret could be anywhere)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8 }).filter((s) => /^[a-zA-Z0-9]+$/.test(s)), (secret) => {
        for (const json of [`{"kubernetes.io/secret/k":"${secret}!"}`, `{"kubernetes.io/readwrite":"${secret}"}`, `{"a":"${secret}",`, `{"kubernetes.io/mounterArgs.FsGroup":"${secret}"}`]) {
          try {
            parseVolumeOptions(json);
          } catch (error) {
            expect((error as Error).message).not.toContain(secret);
          }
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps an option named __proto__ as an option (JSON.parse makes it an own key; so must we)', () => {
    const parsed = parseVolumeOptions('{"__proto__":"x","kubernetes.io/secret/__proto__":"eA=="}');
    expect(Object.keys(parsed.driverOptions)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(parsed.driverOptions, '__proto__')?.value).toBe('x');
    expect(Object.getOwnPropertyDescriptor(parsed.kubelet.secrets, '__proto__')?.value).toBe('x');
  });

  it('reads what Go marshals: escaped <, >, & and unicode come back as they were', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string().filter((k) => k !== '' && !k.startsWith('kubernetes.io/') && !k.includes('\0')), fc.string({ maxLength: 50 })), (options) => {
        expect(parseVolumeOptions(goJsonMarshal(options)).driverOptions).toEqual(options);
      }),
    );
  });

  it('redactOptions hides secrets and the driver\'s sensitive keys', () => {
    expect(redactOptions({ 'kubernetes.io/secret/password': 'eA==', token: 't', share: 's' }, ['token'])).toEqual({
      'kubernetes.io/secret/password': '[Redacted]',
      token: '[Redacted]',
      share: 's',
    });
  });
});

describe('goJsonMarshal (the harness) writes what Go writes', () => {
  it('sorts keys by bytes and escapes <, >, &, U+2028', () => {
    expect(goJsonMarshal({ b: '<a&b>', a: '\u2028', B: 'x' })).toBe('{"B":"x","a":"\\u2028","b":"\\u003ca\\u0026b\\u003e"}');
  });
});
