// Build step of scripts/build-flexvolume.sh: the V8 code cache of a driver bundle, so that a call
// neither parses nor compiles what the cache holds.
// Usage: node scripts/flexvolume-code-cache.cjs <bundle.cjs> <out.cache>
//
// The bundle is evaluated and warmed up first (src/flexvolume/warm-up.ts: harmless calls in a
// temp dir, nothing mounted), and the cache taken after, so that it holds the bytecode of every
// function those calls ran, not only the top level. The source is wrapped exactly as
// src/flexvolume/sea-main.ts wraps it: V8 accepts a cache only for the same source, made by the
// same V8 with the same flags (this Node, the one copied into the executable).
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname } = require('node:path');
const { Script, constants } = require('node:vm');

const [bundlePath, outPath] = process.argv.slice(2);
if (!bundlePath || !outPath) {
  console.error('usage: node scripts/flexvolume-code-cache.cjs <bundle.cjs> <out.cache>');
  process.exit(2);
}
const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundlePath, 'utf8')}\n})`;
const script = new Script(source, { filename: 'driver.cjs', importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
// runFlexVolumeDriver warms up instead of answering a call when it finds this (src/flexvolume/driver.ts).
const warmUp = {};
globalThis.__sharemountWarmUp = warmUp;
const bundleModule = { exports: {} };
script.runInThisContext()(bundleModule.exports, require, bundleModule, bundlePath, dirname(bundlePath));
if (!(warmUp.warmedUp instanceof Promise)) {
  console.error('flexvolume code cache: the bundle did not start a warm-up (is it a runFlexVolumeDriver entry?)');
  process.exit(1);
}
warmUp.warmedUp.then(
  () => {
    writeFileSync(outPath, script.createCachedData());
    process.exit(0); // a handle the warm-up left (a log file's stream) must not hold the build
  },
  (error) => {
    console.error('flexvolume code cache: the warm-up failed:', error);
    process.exit(1);
  },
);
