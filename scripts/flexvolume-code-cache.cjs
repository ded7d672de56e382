// Build step of scripts/build-flexvolume.sh: the V8 code cache of a driver bundle, so that a call
// answered without the resident helper reads the bundle's compiled top level instead of
// compiling it. Usage: node scripts/flexvolume-code-cache.cjs <bundle.cjs> <out.cache>
// The source is wrapped exactly as src/flexvolume/launcher.ts wraps it (V8 accepts a cache only
// for the same source, made by the same V8 with the same flags: this Node, the one in the
// executable); functions compiled lazily are not in it.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');

const [bundlePath, outPath] = process.argv.slice(2);
if (!bundlePath || !outPath) {
  console.error('usage: node scripts/flexvolume-code-cache.cjs <bundle.cjs> <out.cache>');
  process.exit(2);
}
const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundlePath, 'utf8')}\n})`;
writeFileSync(outPath, new Script(source, { filename: 'driver.cjs' }).createCachedData());
