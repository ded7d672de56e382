// The main script of a FlexVolume driver's single executable. It runs the driver's bundle (an
// asset of the executable) with the V8 code cache the build trained for it (another asset), so
// that a call does not compile the functions it runs: the bundle's own SEA code cache would
// only cover its top level. When the cache does not fit (a V8 flag in NODE_OPTIONS changes its
// fingerprint), V8 ignores it and compiles as usual.
'use strict';
const { getAsset } = require('node:sea');
const { Script } = require('node:vm');
const { dirname } = require('node:path');

const source = getAsset('bundle.cjs', 'utf8');
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: 'bundle.cjs',
  cachedData: Buffer.from(getAsset('bundle.cache')),
});
script.runInThisContext()(module.exports, require, module, process.execPath, dirname(process.execPath));
