// Build step of scripts/build-flexvolume.sh: trains the code cache of a driver bundle.
// Usage: node scripts/flexvolume-train.cjs <bundle.cjs> <out.cache>
// Compiles the bundle exactly as scripts/flexvolume-sea-loader.cjs does, runs the driver's
// warm-up (src/flexvolume/warm-up.ts: harmless calls in a temp dir, nothing mounted), then
// writes V8's cache of everything compiled so far.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');
const { resolve, dirname } = require('node:path');

const [bundlePath, outPath] = process.argv.slice(2);
if (!bundlePath || !outPath) {
  console.error('usage: node scripts/flexvolume-train.cjs <bundle.cjs> <out.cache>');
  process.exit(2);
}
const source = readFileSync(bundlePath, 'utf8');
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: 'bundle.cjs' });
globalThis.__sharemountWarmUp = true;
script.runInThisContext()(module.exports, require, module, resolve(bundlePath), dirname(resolve(bundlePath)));
const training = globalThis.__sharemountWarmUp;
if (!(training instanceof Promise)) {
  console.error(`flexvolume-train: ${bundlePath} did not start a warm-up (is it a runFlexVolumeDriver entry?)`);
  process.exit(1);
}
training.then(
  () => {
    writeFileSync(outPath, script.createCachedData());
    process.exit(0);
  },
  (error) => {
    console.error('flexvolume-train: warm-up failed:', error);
    process.exit(1);
  },
);
