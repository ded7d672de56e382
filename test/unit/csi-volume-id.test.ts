import { describe, expect, it } from 'vitest';
import { bindBackend, directoryOf } from '../../src/backends/bind.js';
import { lvmBackend } from '../../src/backends/lvm.js';
import { csiVolumeId, parseCsiVolumeId } from '../../src/csi/volume-id.js';

describe('CSI volume ids', () => {
  const [bind, lvm] = [bindBackend(), lvmBackend()];
  it('say which backend made the volume, and give its own id back', () => {
    expect(csiVolumeId(lvm, 'vg0/data')).toBe('lvm:vg0/data');
    expect(parseCsiVolumeId('lvm:vg0/data', [bind, lvm])).toEqual({ backend: lvm, volumeId: 'vg0/data' });
    expect(parseCsiVolumeId('bind:a:b', [bind, lvm])).toEqual({ backend: bind, volumeId: 'a:b' });
  });
  it('are undefined for ids this plugin never made', () => {
    for (const id of ['reallyfakevolumeid', ':x', 'nfs:server#/e#v', 'lvm', '']) expect(parseCsiVolumeId(id, [bind, lvm])).toBeUndefined();
  });
  it('refuse to exceed 128 bytes', () => {
    expect(csiVolumeId(bind, 'x'.repeat(123))).toHaveLength(128);
    expect(() => csiVolumeId(bind, 'x'.repeat(124))).toThrow("exceeds CSI's 128");
  });
});

describe('directoryOf (bind provisioning)', () => {
  it('keeps a plain name as it is', () => {
    expect(directoryOf('pvc-0b9e6f0e-6c5a-4d8e-9d2f-1a2b3c4d5e6f')).toBe('pvc-0b9e6f0e-6c5a-4d8e-9d2f-1a2b3c4d5e6f');
  });
  it('turns any other name into a safe, short, distinct component', () => {
    const names = ['../etc', '.hidden', 'a/b', 'a_b', `x${'y'.repeat(127)}`, 'archived-pvc-1', 'ünïcode', '-dash'];
    const dirs = names.map(directoryOf);
    expect(new Set(dirs).size).toBe(names.length);
    for (const dir of dirs) {
      expect(dir).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      expect(Buffer.byteLength(dir)).toBeLessThanOrEqual(100);
      expect(dir.startsWith('archived-')).toBe(false);
    }
    expect(directoryOf('../etc')).toBe(directoryOf('../etc')); // the same name, the same directory
  });
});
