import { describe, expect, it } from 'vitest';
import { lvNameProblem, tagProblem, vgNameProblem } from '../../src/backends/lvm/names.js';
import { formatVolumeId, parseVolumeId } from '../../src/backends/lvm/schemas.js';

describe('lvm2 name rules', () => {
  it.each(['vg0', 'data-vg', 'a.b', 'A+B_c', '_', '.hidden', 'x'.repeat(127)])('accepts VG name %j', (name) => {
    expect(vgNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['', 'is empty'],
    ['-vg', 'must not start with "-"'],
    ['.', '"." or ".."'],
    ['..', '"." or ".."'],
    ['vg/x', 'may contain only'],
    ['vg x', 'may contain only'],
    ['vg\0', 'may contain only'],
    ['vgé', 'may contain only'],
    ['x'.repeat(128), 'longer than 127'],
  ])('refuses VG name %j (%s)', (name, problem) => {
    expect(vgNameProblem(name)).toContain(problem);
  });

  it.each(['pvc-0f3a', 'lv_data', 'my.lv', 'snap', 'a_tme', 'xsnapshot', 'mlog'])('accepts LV name %j', (name) => {
    expect(lvNameProblem(name)).toBeUndefined();
  });

  it.each([
    ['snapshot0', 'must not start with "snapshot"'],
    ['pvmove1', 'must not start with "pvmove"'],
    ['data_mlog', 'must not contain "_mlog"'],
    ['x_tmeta', '_tmeta'],
    ['x_tdata', '_tdata'],
    ['x_rimage_0', '_rimage'],
    ['x_cdata', '_cdata'],
    ['x_vorigin', '_vorigin'],
    ['x_wcorig', '_wcorig'],
    ['x_pmspare', '_pmspare'],
    ['--help', 'must not start with "-"'],
    ['..', '"." or ".."'],
    ['../../etc', 'may contain only'],
  ])('refuses LV name %j (%s)', (name, problem) => {
    expect(lvNameProblem(name)).toContain(problem);
  });

  it.each(['owner=team-a', 'k8s/pvc:ns/name', 'a!b#c&d', 'x'.repeat(1024)])('accepts tag %j', (tag) => {
    expect(tagProblem(tag)).toBeUndefined();
  });

  it.each([['-x', 'must not start'], ['a b', 'may contain only'], ['a,b', 'may contain only'], ['x'.repeat(1025), 'longer than'], ['', 'is empty']])(
    'refuses tag %j',
    (tag, problem) => {
      expect(tagProblem(tag)).toContain(problem);
    },
  );
});

describe('volume ids', () => {
  it('round-trips vg/lv', () => {
    expect(parseVolumeId(formatVolumeId('vg0', 'pvc-1'))).toEqual({ vg: 'vg0', lv: 'pvc-1' });
  });

  it('takes a bare LV name in the default VG', () => {
    expect(parseVolumeId('pvc-1', 'vg0')).toEqual({ vg: 'vg0', lv: 'pvc-1' });
  });

  it.each([['a/b/c'], ['pvc-1'], ['vg/-lv'], ['vg/snapshot1'], ['../x'], ['vg/'], [''], [42]])('refuses %j naming volumeId', (id) => {
    expect(() => parseVolumeId(id)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'volumeId' }));
  });
});

describe('lvNameOf', () => {
  it('keeps a valid name that fits; hashes any other CSI name into a valid LV name within the id', async () => {
    const { lvNameOf } = await import('../../src/backends/lvm/names.js');
    expect(lvNameOf('pvc-1', 'vg0', 124)).toBe('pvc-1');
    for (const name of ['snapshot-1', 'pvmove', '--yes', 'a_tmeta', 'ünï côdé', '.', 'x'.repeat(128), '_'.repeat(5)]) {
      const lv = lvNameOf(name, 'vg0', 124);
      expect(lvNameProblem(lv)).toBeUndefined();
      expect(Buffer.byteLength(`vg0/${lv}`)).toBeLessThanOrEqual(124);
      expect(lvNameOf(name, 'vg0', 124)).toBe(lv);
    }
    expect(lvNameOf('x'.repeat(128), 'vg0', 124)).not.toBe(lvNameOf('x'.repeat(127), 'vg0', 124));
    expect(() => lvNameOf('x'.repeat(128), 'v'.repeat(110), 124)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'parameters.volumeGroup' }));
  });
});
