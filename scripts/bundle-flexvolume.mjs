// Bundles one FlexVolume driver entry into one CommonJS file for a single executable (step 1 of
// scripts/build-flexvolume.sh), or, with --main, the executable's main script that evaluates it.
// Usage: node scripts/bundle-flexvolume.mjs <entry.ts> <out.cjs>
//        node scripts/bundle-flexvolume.mjs --main <out.cjs>
//
// Beyond a plain esbuild bundle: zod re-exports all of its ~50 message locales as a namespace
// (`z.locales`), which keeps every one in the bundle: 260 KB of a 700 KB file that each call
// would load and whose code cache it would read. The shim and the backends only ever use zod's
// default English messages, so the namespace is replaced by one holding English alone.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// What both bundles are: one minified CommonJS file for Node 22 that requires built-ins only.
const common = { bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, legalComments: 'none', logLevel: 'warning' };

const args = process.argv.slice(2);
if (args[0] === '--main') {
  // src/flexvolume/sea-main.ts: evaluates the bundle, an asset of the executable, with its code cache.
  const [, outfile] = args;
  if (!outfile) {
    console.error('usage: node scripts/bundle-flexvolume.mjs --main <out.cjs>');
    process.exit(2);
  }
  await build({ ...common, entryPoints: [join(dirname(new URL(import.meta.url).pathname), '../src/flexvolume/sea-main.ts')], outfile });
  process.exit(0);
}
const [entry, outfile] = args;
if (!entry || !outfile) {
  console.error('usage: node scripts/bundle-flexvolume.mjs <entry.ts> <out.cjs>');
  process.exit(2);
}
const zodRoot = dirname(createRequire(import.meta.url).resolve('zod/package.json'));
const englishOnly = {
  name: 'zod-english-locale-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.startsWith(join(zodRoot, 'v4')) ? { path: 'zod-locales', namespace: 'zod-english-only' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: `export { default as en } from ${JSON.stringify(join(zodRoot, 'v4/locales/en.js'))};`,
      loader: 'js',
      resolveDir: zodRoot,
    }));
  },
};

await build({
  ...common,
  entryPoints: [entry],
  outfile,
  // CommonJS has no import.meta; a few dependencies read import.meta.url at load time.
  define: { 'import.meta.url': '__sharemount_import_meta_url' },
  banner: { js: 'var __sharemount_import_meta_url=require("node:url").pathToFileURL(__filename).href;' },
  plugins: [englishOnly],
});
