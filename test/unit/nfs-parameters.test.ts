import { describe, expect, it } from 'vitest';
import { nfsBackend, splitShare } from '../../src/backends/nfs.js';
import { fromZodError } from '../../src/errors.js';

const backend = nfsBackend();

/** Parses like a shim would, returning the SharemountError on failure. */
function parse(input: unknown) {
  const result = backend.parameters.safeParse(input);
  if (result.success) return { ok: true as const, value: result.data };
  return { ok: false as const, error: fromZodError(result.error, 'parameters') };
}

function refusal(input: unknown) {
  const result = parse(input);
  if (result.ok) throw new Error(`accepted ${JSON.stringify(input)}`);
  return result.error;
}

describe('splitShare', () => {
  it('splits server:/export, keeps bare exports, handles brackets', () => {
    expect(splitShare('nas:/srv/k8s')).toEqual({ server: 'nas', export: '/srv/k8s' });
    expect(splitShare('10.0.0.1:/a:b')).toEqual({ server: '10.0.0.1', export: '/a:b' });
    expect(splitShare('[fd00::1]:/srv')).toEqual({ server: '[fd00::1]', export: '/srv' });
    expect(splitShare('/srv/k8s')).toBeUndefined();
    expect(splitShare('nas')).toEqual({ server: 'nas', export: '' });
  });
});

describe('NFS volume parameters', () => {
  it('accepts server + share and turns them into a VolumeSpec', () => {
    const result = parse({ server: 'NAS', share: '/srv/k8s/', mountOptions: 'vers=4.1, hard,vers=4.1', subPath: 'a/b', createIfNecessary: 'true', createMode: '0750' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(backend.toVolume(result.value)).toEqual({
      source: { backend: 'nfs', server: 'nas', export: '/srv/k8s' },
      options: ['hard', 'vers=4.1'],
      subPath: 'a/b',
      createIfNecessary: true,
      createMode: 0o750,
    });
  });

  it('accepts nfs-flex-volume share "server:/export" and arrays of options', () => {
    const result = parse({ share: '10.0.0.9:/exports/data', mountOptions: ['ro', 'nfsvers=3'], createIfNecessary: false, createMode: 0o700 });
    expect(result.ok && backend.toVolume(result.value)).toEqual({
      source: { backend: 'nfs', server: '10.0.0.9', export: '/exports/data' },
      options: ['nfsvers=3', 'ro'],
      createIfNecessary: false,
      createMode: 0o700,
    });
  });

  it('accepts a server repeated in both fields when they agree', () => {
    expect(parse({ server: 'nas', share: 'NAS:/e' }).ok).toBe(true);
  });

  it('defaults provisioning fields safely: retain, 0777', () => {
    const result = parse({ server: 'nas', share: '/e' });
    expect(result.ok && result.value).toMatchObject({ onDelete: 'retain', directoryMode: 0o777, mountOptions: [] });
  });

  it('reads the CSI claim metadata keys and ignores other orchestrator keys', () => {
    const result = parse({
      server: 'nas',
      share: '/e',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'team-a',
      'csi.storage.k8s.io/pv/name': 'pvc-123',
      'storage.kubernetes.io/csiProvisionerIdentity': '1700000000000-8081-sharemount',
      'kubernetes.io/readwrite': 'rw',
    });
    expect(result.ok && result.value).toMatchObject({ pvcName: 'data', pvcNamespace: 'team-a', pvName: 'pvc-123' });
  });

  it('parses the provisioning fields', () => {
    const result = parse({ share: 'nas:/e', onDelete: 'archive', subDirTemplate: '${pvc.name}', directoryMode: '2770', directoryUid: '1000', directoryGid: 2000 });
    expect(result.ok && result.value).toMatchObject({ onDelete: 'archive', subDirTemplate: '${pvc.name}', directoryMode: 0o2770, directoryUid: 1000, directoryGid: 2000 });
  });

  const hostile: Array<[string, unknown, string, RegExp]> = [
    ['no share', { server: 'nas' }, 'parameters.share', /required/],
    ['bare export without server', { share: '/e' }, 'parameters.server', /required/],
    ['server starting with -', { server: '-o', share: '/e' }, 'parameters.server', /starts with "-"/],
    ['share server starting with -', { share: '-oremount:/e' }, 'parameters.share', /starts with "-"/],
    ['server disagreeing with share', { server: 'a', share: 'b:/e' }, 'parameters.server', /differs/],
    ['share without export', { share: 'nas' }, 'parameters.share', /absolute/],
    ['share with relative export', { share: 'nas:e' }, 'parameters.share', /absolute/],
    ['export escaping with ..', { share: 'nas:/e/../../etc' }, 'parameters.share', /"\.\."/],
    ['newline in export', { share: 'nas:/e\n/x' }, 'parameters.share', /control/],
    ['NUL in export', { server: 'nas', share: '/e\u0000' }, 'parameters.share', /control/],
    ['option injection', { share: 'nas:/e', mountOptions: 'rw,remount' }, 'parameters.mountOptions[1]', /reserved/],
    ['option with a space', { share: 'nas:/e', mountOptions: ['vers=4 -o bind'] }, 'parameters.mountOptions[0]', /character/],
    ['option starting with -', { share: 'nas:/e', mountOptions: ['--bind'] }, 'parameters.mountOptions[0]', /starts with "-"/],
    ['bg', { share: 'nas:/e', mountOptions: 'bg' }, 'parameters.mountOptions[0]', /"bg" is not allowed/],
    ['ro and rw', { share: 'nas:/e', mountOptions: 'ro,rw' }, 'parameters.mountOptions', /both/],
    ['subPath escaping', { share: 'nas:/e', subPath: '../x' }, 'parameters.subPath', /"\.\."/],
    ['absolute subPath', { share: 'nas:/e', subPath: '/etc' }, 'parameters.subPath', /relative/],
    ['NUL subPath', { share: 'nas:/e', subPath: 'a\u0000' }, 'parameters.subPath', /NUL/],
    ['createIfNecessary yes', { share: 'nas:/e', createIfNecessary: 'yes' }, 'parameters.createIfNecessary', /.+/],
    ['createMode decimal string', { share: 'nas:/e', createMode: '999' }, 'parameters.createMode', /.+/],
    ['createMode too big', { share: 'nas:/e', createMode: 0o10000 }, 'parameters.createMode', /.+/],
    ['onDelete typo', { share: 'nas:/e', onDelete: 'remove' }, 'parameters.onDelete', /.+/],
    ['directoryUid negative', { share: 'nas:/e', directoryUid: '-1' }, 'parameters.directoryUid', /.+/],
    ['directoryGid huge', { share: 'nas:/e', directoryGid: '99999999999' }, 'parameters.directoryGid', /.+/],
    ['unknown key (typo)', { share: 'nas:/e', mountOption: 'ro' }, 'parameters.mountOption', /not an NFS parameter/],
    ['non-string share', { share: 42 }, 'parameters.share', /.+/],
  ];
  for (const [what, input, field, message] of hostile) {
    it(`refuses ${what}, naming ${field}`, () => {
      const error = refusal(input);
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.field).toBe(field);
      expect(error.message).toContain(field);
      expect(error.message).toMatch(message);
    });
  }

  it('names the index of the bad item in a comma list', () => {
    const error = refusal({ share: 'nas:/e', mountOptions: 'sec=sys,vers=4 x,hard' });
    expect(error.field).toBe('parameters.mountOptions[1]');
  });

  it('refuses non-objects', () => {
    expect(refusal('nas:/e').field).toBe('parameters');
    expect(refusal(null).field).toBe('parameters');
  });
});
