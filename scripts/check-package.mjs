// Loads every subpath of package.json's "exports" both ways (import and require), as a user's
// code would after `npm install sharemount`, and checks each one exports what its docs promise.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const require = createRequire(import.meta.url);
const expected = {
  '.': ['MountManager', 'SharemountError', 'canonicalOptions', 'encodeComponent'],
  './backends/bind': ['bindBackend'],
  './backends/nfs': ['nfsBackend'],
  './backends/lvm': ['lvmBackend'],
  './flexvolume': [],
  './csi': ['createCsiPlugin', 'runCsiPlugin', 'csiProtoPath', 'loadCsiServices'],
  './testing': ['testBackend', 'createSandbox'],
};
let failures = 0;
for (const [subpath, target] of Object.entries(pkg.exports)) {
  if (typeof target === 'string') continue;
  const esm = await import(new URL(`../${target.import}`, import.meta.url).href);
  // `./testing` is ESM only (it runs vitest, which is), so it has no `require` condition.
  const cjs = target.require === undefined ? esm : require(`../${target.require}`);
  for (const name of expected[subpath] ?? []) {
    for (const [kind, mod] of [['import', esm], ['require', cjs]]) {
      if (typeof mod[name] !== 'function') {
        console.error(`check-package: ${subpath} (${kind}) does not export ${name}`);
        failures++;
      }
    }
  }
  // The CSI shim reads the shipped proto at run time: each build must find it.
  if (subpath === './csi') {
    for (const [kind, mod] of [['import', esm], ['require', cjs]]) {
      if (!existsSync(mod.csiProtoPath())) {
        console.error(`check-package: ${subpath} (${kind}) does not find proto/csi.proto`);
        failures++;
      }
    }
  }
  console.log(`check-package: ${subpath} ok (${Object.keys(esm).length} exports)`);
}
process.exit(failures === 0 ? 0 : 1);
