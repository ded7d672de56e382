import { afterAll } from 'vitest';
import { testBackend } from '../../src/testing/index.js';
import { lvmBackend, type LvmSource } from '../../src/backends/lvm.js';
import { skipWhenMissing } from '../helpers/ci.js';
import { createLvmEnv, missingLvmPrerequisite } from '../helpers/lvm-env.js';

// The shared backend conformance suite on a real LV (lvm2 with activation off; the LV's device
// is a loop device at its offset in the PV, see test/helpers/lvm-env.ts). The LV starts blank,
// so the first publication also proves format-on-first-mount.
const missing = missingLvmPrerequisite();
if (!skipWhenMissing(missing, 'the LVM conformance suite')) {
  const env = await createLvmEnv({ vg: 'smconf', sizeBytes: 1024 ** 3 });
  afterAll(() => env.cleanup());
  const backend = lvmBackend(env.backendOptions());
  testBackend<LvmSource>('lvm', {
    backend,
    async makeSource() {
      await backend.createVolume({ name: 'conformance', parameters: { volumeGroup: env.vg, size: '64Mi' } });
      const source: LvmSource = { backend: 'lvm', vg: env.vg, lv: 'conformance', fsType: 'ext4' };
      return { source, cleanup: () => backend.deleteVolume(`${env.vg}/conformance`) };
    },
    equivalentOptions: [['noatime', 'nodev'], ['nodev', 'noatime', 'nodev']],
    unmountableSource: { backend: 'lvm', vg: env.vg, lv: 'missing' },
  });
}
