import { dirname } from 'node:path';
import { failure, serialize, writeFully } from './reply.js';

/**
 * The single executable's main script (scripts/build-flexvolume.sh). Every FlexVolume call is
 * its own process, started from the executable alone: this evaluates the driver bundle, an
 * asset of the executable, with the V8 code cache the build made after warming the bundle up,
 * so that the functions a call runs are neither parsed nor compiled again. Nothing is read or
 * kept outside the executable.
 */

const bundleAsset = 'driver.cjs';
const codeCacheAsset = 'driver.cache';

/**
 * The bundle is CommonJS that requires built-in modules only, and its code cache was made by
 * the build with this same Node (a mismatch is harmless: V8 rejects the cache and compiles).
 * The source is wrapped exactly as scripts/flexvolume-code-cache.cjs wraps it, or the cache
 * would not match.
 */
function evaluateDriver(): void {
  const { getAsset, getRawAsset } = require('node:sea') as typeof import('node:sea');
  const { Script, constants } = require('node:vm') as typeof import('node:vm');
  const source = `(function (exports, require, module, __filename, __dirname) {${getAsset(bundleAsset, 'utf8')}\n})`;
  // A view of the asset in the executable's memory, not a copy (V8 only reads it).
  const cachedData = Buffer.from(getRawAsset(codeCacheAsset));
  // import() of a built-in module (esbuild leaves those as they are) goes to Node's own loader;
  // without it V8 throws "A dynamic import callback was not specified".
  const importModuleDynamically = constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  const wrapper = new Script(source, { filename: bundleAsset, cachedData, importModuleDynamically }).runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  wrapper(module.exports, require, module, process.execPath, dirname(process.execPath));
}

// A failure here (an asset missing, a bug) must still answer with one reply.
try {
  evaluateDriver();
} catch (error) {
  writeFully(1, Buffer.from(serialize(failure(`internal error in the driver executable: ${error instanceof Error ? error.message : String(error)}`)), 'utf8'));
  process.exit(1);
}
