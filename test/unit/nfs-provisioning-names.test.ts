import { describe, expect, it } from 'vitest';
import { fittedLocation, formatVolumeId, parseVolumeId, renderSubDirName } from '../../src/backends/nfs.js';
import { isSharemountError } from '../../src/errors.js';

function thrown(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isSharemountError(error)) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('sub-directory name template', () => {
  const claim = { pvName: 'pvc-0b1c', pvcName: 'data', pvcNamespace: 'team-a' };

  it('defaults to namespace-name-pv when the claim is known, to the pv name otherwise', () => {
    expect(renderSubDirName(undefined, claim, 'f')).toBe('team-a-data-pvc-0b1c');
    expect(renderSubDirName(undefined, { pvName: 'pvc-0b1c' }, 'f')).toBe('pvc-0b1c');
  });

  it('renders every variable', () => {
    expect(renderSubDirName('${pvc.namespace}_${pvc.name}.${pv.name}', claim, 'f')).toBe('team-a_data.pvc-0b1c');
  });

  const hostile: Array<[string, Record<string, string>, RegExp]> = [
    ['${pvc.namespace}/${pvc.name}', {}, /one safe path component/],
    ['..', {}, /one safe path component/],
    ['.hidden', {}, /one safe path component/],
    ['${pvc.name}', { pvcName: '../../etc' }, /one safe path component/],
    ['${pvc.name}', { pvcName: 'a\nb' }, /one safe path component/],
    ['${pvc.name}', { pvcName: '-rf' }, /one safe path component/],
    ['archived-${pv.name}', {}, /archived-/],
    ['${pv.name}', { pvName: 'x'.repeat(201) }, /longer than/],
    ['${pvc.uid}', {}, /unknown variable \$\{pvc.uid\}/],
    ['', {}, /empty/],
  ];
  for (const [template, overrides, problem] of hostile) {
    it(`refuses ${JSON.stringify(template)} with ${JSON.stringify(overrides).slice(0, 40)}`, () => {
      const error = thrown(() => renderSubDirName(template, { ...claim, ...overrides }, 'parameters.subDirTemplate'));
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'parameters.subDirTemplate' });
      expect(error.message).toMatch(problem);
    });
  }

  it('explains missing claim metadata', () => {
    const error = thrown(() => renderSubDirName('${pvc.name}', { pvName: 'p' }, 'parameters.subDirTemplate'));
    expect(error.message).toMatch(/--extra-create-metadata/);
  });
});

describe('NFS volume ids', () => {
  it('round-trips, including a "#" inside the export path', () => {
    for (const location of [
      { server: 'nas', export: '/srv/k8s', name: 'team-a-data-pvc-1' },
      { server: '[fd00::1]', export: '/a#b', name: 'v' },
      { server: '10.0.0.1', export: '/', name: 'v' },
    ]) {
      expect(parseVolumeId(formatVolumeId(location))).toEqual(location);
    }
  });

  it('refuses ids over 124 bytes when making them (CSI\'s 128 with the shim\'s nfs: prefix)', () => {
    expect(formatVolumeId({ server: 'nas', export: `/${'e'.repeat(79)}`, name: 'n'.repeat(39) })).toHaveLength(124);
    expect(thrown(() => formatVolumeId({ server: 'nas', export: `/${'e'.repeat(79)}`, name: 'n'.repeat(40) }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'name' });
    expect(thrown(() => formatVolumeId({ server: 'nas', export: `/${'e'.repeat(100)}`, name: 'n'.repeat(40) }))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'name' });
  });

  const hostile: Array<[string, RegExp]> = [
    ['nas/srv/v', /not an NFS volume id/],
    ['nas#/srv', /not an NFS volume id/],
    ['-x#/srv#v', /starts with "-"/],
    ['nas#srv#v', /absolute/],
    ['nas#/srv/../etc#v', /"\.\."/],
    ['nas#/srv#..', /one safe path component/],
    ['nas#/srv#archived-v', /archived-/],
    ['NAS#/srv#v', /canonical/],
    ['nas#/srv/#v', /canonical/],
    [`nas#/srv#${'v'.repeat(130)}`, /longer than 124/],
  ];
  for (const [id, problem] of hostile) {
    it(`refuses volume id ${JSON.stringify(id.slice(0, 30))}`, () => {
      const error = thrown(() => parseVolumeId(id));
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'volumeId' });
      expect(error.message).toMatch(problem);
    });
  }
});

describe('NFS volume ids for any name length', () => {
  it('keeps a name whose id fits, and gives a longer one a readable prefix and a hash: stable, distinct, at most 124 bytes, parseable', () => {
    expect(fittedLocation('nas', '/srv/k8s', 'pvc-1')).toEqual({ server: 'nas', export: '/srv/k8s', name: 'pvc-1' });
    const long = fittedLocation('nas.example.com', '/srv/kubernetes/volumes', 'a'.repeat(128));
    expect(long).toEqual(fittedLocation('nas.example.com', '/srv/kubernetes/volumes', 'a'.repeat(128)));
    expect(long.name).toMatch(/^a+-[0-9a-f]{16}$/);
    expect(Buffer.byteLength(formatVolumeId(long))).toBe(124);
    expect(parseVolumeId(formatVolumeId(long))).toEqual(long);
    expect(fittedLocation('nas.example.com', '/srv/kubernetes/volumes', 'a'.repeat(127)).name).not.toBe(long.name);
  });

  it('refuses only a server and export that leave no room for a hash, naming parameters.share', () => {
    expect(fittedLocation('nas', `/${'e'.repeat(100)}`, 'n'.repeat(128)).name).toMatch(/^n*-?[0-9a-f]{16}$/);
    expect(thrown(() => fittedLocation('nas', `/${'e'.repeat(110)}`, 'n'.repeat(128)))).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'parameters.share' });
  });
});
