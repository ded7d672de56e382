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
    // Each condition names its own declarations: `import` the ESM `.d.ts`, `require` the
    // CommonJS `.d.cts`, so TypeScript never takes ESM types for a require (TS1479 before 5.8).
    const esm = target.import;
    if (typeof esm?.default !== 'string' || typeof esm.types !== 'string') {
      throw new Error(`package-check: exports["${subpath}"].import needs "types" and "default"`);
    }
    const cjs = target.require;
    if (cjs !== undefined && (typeof cjs.default !== 'string' || typeof cjs.types !== 'string' || !cjs.types.endsWith('.d.cts'))) {
      throw new Error(`package-check: exports["${subpath}"].require needs "default" and "types" naming a .d.cts file`);
    }
    rows.push({
      subpath,
      specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
      require: cjs !== undefined,
      declarations: [esm.types, ...(cjs ? [cjs.types] : [])],
      source: esm.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'),
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
