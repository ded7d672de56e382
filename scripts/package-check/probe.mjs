// Copied into a temporary project that installed the packed package, and run there:
//   node probe.mjs <import|require> <entries.json>
// Loads every entry point as that project's code would (`import`, or `require` where the entry
// has a `require` condition; ESM-only ones through `import()`, as CommonJS code must), and checks
// each exports what its docs promise. Prints one line per entry; exits 1 on any failure.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';

const [mode, entriesFile] = process.argv.slice(2);
const { entries, promised } = JSON.parse(readFileSync(entriesFile, 'utf8'));
const require = createRequire(import.meta.url);
let failures = 0;
const fail = (message) => {
  console.error(`probe (${mode}): ${message}`);
  failures++;
};

for (const entry of entries) {
  const how = mode === 'require' && entry.require ? 'require' : 'import';
  let mod;
  try {
    mod = how === 'require' ? require(entry.specifier) : await import(entry.specifier);
  } catch (error) {
    fail(`${how}('${entry.specifier}') failed: ${error?.stack ?? error}`);
    continue;
  }
  for (const name of promised[entry.subpath] ?? []) {
    if (typeof mod[name] !== 'function') fail(`${entry.specifier} (${how}) does not export ${name}`);
  }
  // The CSI shim reads the shipped proto at run time: the installed package must have it.
  if (typeof mod.csiProtoPath === 'function' && !existsSync(mod.csiProtoPath())) {
    fail(`${entry.specifier} (${how}) does not find its proto at ${mod.csiProtoPath()}`);
  }
  console.log(`probe: ${how}('${entry.specifier}') ok, ${Object.keys(mod).length} exports`);
}
process.exit(failures === 0 ? 0 : 1);
