// Build step of scripts/build-flexvolume.sh: writes the script from which a driver's startup
// snapshot is built. Usage: node scripts/flexvolume-snapshot-entry.cjs <bundle.cjs> <out.cjs>
//
// The single executable starts from a V8 startup snapshot (`useSnapshot` in the SEA config)
// instead of compiling and evaluating the bundle on every call: zod, execa, pino, the core, the
// backends and every schema they build at import are already in the heap when a call starts.
// The snapshot is taken from a process that ran the script this step writes:
//   1. installs, for the build only, the built-ins V8 leaves out of a context that is being
//      snapshotted (the ES2025 Set methods: execa calls Set.prototype.union at import);
//   2. runs the bundle with the build's warm-up flag (src/flexvolume/driver.ts), so that instead
//      of answering a call it runs harmless calls (src/flexvolume/warm-up.ts): that loads every
//      lazy import a `mount` or `unmount` makes (the modules are evaluated and kept in the heap,
//      with the bytecode of every function that ran; a call compiles only the others);
//   3. removes the stand-ins (the process started from the snapshot gets V8's own) and makes the
//      driver's main, made afresh in that process, the snapshot's entry point.
// The snapshot builder's `require` serves built-in modules only, so the bundle is inlined.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');

const [bundlePath, outPath] = process.argv.slice(2);
if (!bundlePath || !outPath) {
  console.error('usage: node scripts/flexvolume-snapshot-entry.cjs <bundle.cjs> <out.cjs>');
  process.exit(2);
}

// The part of the snapshot's script that runs before the bundle (step 1).
function before() {
  const standIns = [];
  const setLike = (other) => {
    if (other === null || typeof other !== 'object' || typeof other.has !== 'function' || typeof other.keys !== 'function') {
      throw new TypeError('expected a set-like object');
    }
    return other;
  };
  const methods = {
    union(other) {
      const result = new Set(this);
      for (const value of setLike(other).keys()) result.add(value);
      return result;
    },
    intersection(other) {
      setLike(other);
      return new Set([...this].filter((value) => other.has(value)));
    },
    difference(other) {
      setLike(other);
      return new Set([...this].filter((value) => !other.has(value)));
    },
    symmetricDifference(other) {
      const result = new Set(this);
      for (const value of setLike(other).keys()) {
        if (this.has(value)) result.delete(value);
        else result.add(value);
      }
      return result;
    },
    isSubsetOf(other) {
      setLike(other);
      return [...this].every((value) => other.has(value));
    },
    isSupersetOf(other) {
      for (const value of setLike(other).keys()) if (!this.has(value)) return false;
      return true;
    },
    isDisjointFrom(other) {
      setLike(other);
      return ![...this].some((value) => other.has(value));
    },
  };
  for (const [name, method] of Object.entries(methods)) {
    if (name in Set.prototype) continue;
    Object.defineProperty(Set.prototype, name, { value: method, writable: true, configurable: true, enumerable: false });
    standIns.push(name);
  }
  // An AsyncLocalStorage that has run once (the core's lock does, in the warm-up) keeps V8's
  // promise hooks installed, and a snapshot cannot hold them: the ones used are disabled after
  // the warm-up, and enable themselves again on their next run in the started process.
  const { AsyncLocalStorage } = require('node:async_hooks');
  const used = new Set();
  const original = { run: AsyncLocalStorage.prototype.run, enterWith: AsyncLocalStorage.prototype.enterWith };
  for (const [name, method] of Object.entries(original)) {
    AsyncLocalStorage.prototype[name] = function (...args) {
      used.add(this);
      return method.apply(this, args);
    };
  }
  // V8 cannot serialize an error whose stack trace was captured but never formatted (the build
  // aborts in SnapshotByteSink), and a few stay reachable: async-mutex builds its error values
  // at import. Without a numeric Error.stackTraceLimit, errors made during the build capture none.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = undefined;
  return { standIns, restore: () => {
    Object.assign(AsyncLocalStorage.prototype, original);
    for (const storage of used) storage.disable();
    Error.stackTraceLimit = stackTraceLimit;
  } };
}

// The part that runs after the bundle (step 3).
function after({ standIns, restore }, started) {
  const { startupSnapshot } = require('node:v8');
  if (!(started instanceof Promise)) throw new Error('the bundle did not start a warm-up (is it a runFlexVolumeDriver entry?)');
  started.then(
    (main) => {
      for (const name of standIns) delete Set.prototype[name];
      restore();
      startupSnapshot.setDeserializeMainFunction(() => main());
    },
    (error) => {
      console.error('flexvolume snapshot: the warm-up failed:', error);
      process.exit(1);
    },
  );
}

const bundle = readFileSync(bundlePath, 'utf8');
const script = `'use strict';
const __sharemountStandIns = (${before.toString()})();
globalThis.__sharemountWarmUp = true;
const __sharemountModule = { exports: {} };
(function (exports, require, module, __filename, __dirname) {${bundle}
})(__sharemountModule.exports, require, __sharemountModule, process.execPath, require('node:path').dirname(process.execPath));
const __sharemountStarted = globalThis.__sharemountWarmUp;
delete globalThis.__sharemountWarmUp;
(${after.toString()})(__sharemountStandIns, __sharemountStarted);
`;
writeFileSync(outPath, script);
