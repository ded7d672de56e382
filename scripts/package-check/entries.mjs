// The package's entry points, read from package.json's "exports" map, so that an entry point
// someone adds is checked without anyone listing it here.

/**
 * One row per module subpath (`./package.json` and other non-module targets are left out):
 * `specifier` as a user writes it, `require` when CommonJS can load it (the `require` condition),
 * `source` the file under src/ it is built from (tsup's entries mirror dist/ in src/).
 */
export function entryPoints(pkg) {
  const rows = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') {
      if (!/\.(c|m)?js$/.test(target)) continue;
      throw new Error(`package-check: exports["${subpath}"] is a bare string; give it "types", "import" and "require" conditions`);
    }
    const esm = target.import ?? target.default;
    if (typeof esm !== 'string' || typeof target.types !== 'string') {
      throw new Error(`package-check: exports["${subpath}"] needs an "import" and a "types" condition`);
    }
    rows.push({
      subpath,
      specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
      require: target.require !== undefined,
      source: esm.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'),
    });
  }
  return rows;
}

/** What some entry points must export (functions), as their docs promise; the others must load. */
export const promisedExports = {
  '.': ['MountManager', 'SharemountError', 'canonicalOptions', 'encodeComponent'],
  './backends/bind': ['bindBackend'],
  './backends/nfs': ['nfsBackend'],
  './backends/lvm': ['lvmBackend'],
  './flexvolume': ['runFlexVolumeDriver'],
  './csi': ['createCsiPlugin', 'runCsiPlugin', 'csiProtoPath', 'loadCsiServices'],
  './testing': ['testBackend', 'createSandbox'],
};
