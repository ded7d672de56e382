import { defineConfig } from 'tsup';

// One entry per public subpath of package.json's "exports" map.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'backends/bind': 'src/backends/bind.ts',
    'backends/nfs': 'src/backends/nfs.ts',
    'backends/lvm': 'src/backends/lvm.ts',
    'flexvolume/index': 'src/flexvolume/index.ts',
    'csi/index': 'src/csi/index.ts',
    'testing/index': 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node22',
  platform: 'node',
  splitting: true,
  // import.meta.url in the CommonJS output (the CSI shim finds its proto from it).
  shims: true,
});
