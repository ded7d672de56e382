// The package as users get it: `npm pack`, then a temporary ESM project and a temporary CommonJS
// project each install the tarball with the optional peers, load every entry point at run time,
// and type-check a file importing every entry point, and every declaration file the build
// emitted, with TypeScript (module nodenext, strict), with and without skipLibCheck; the ESM project type-checks the example drivers too, their
// imports of src/ turned into the package's specifiers. Entry points come from package.json's
// "exports", so new ones are covered. Any error fails the check. Run after `tsup` (test-ci.sh).
// SHAREMOUNT_KEEP_PACKAGE_CHECK=1 keeps the temporary projects for a look.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryPoints, promisedExports } from './package-check/entries.mjs';
import { entriesFile, exampleFiles } from './package-check/sources.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const entries = entryPoints(pkg);
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const installedVersion = (name) => JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')).version;
// The optional peers and Node's types, at the versions the lockfile has (so npm's cache has them).
const companions = [...Object.keys(pkg.peerDependencies ?? {}), '@types/node'].map((name) => `${name}@${installedVersion(name)}`);

/** Runs a command; resolves with its exit code and combined output (never rejects). */
function run(command, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (error) => resolve({ code: 1, output: `${output}${error.message}\n` }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

let failures = 0;
async function step(label, command, args, cwd) {
  const started = Date.now();
  const { code, output } = await run(command, args, cwd);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (code === 0) {
    console.log(`check-package: ${label}: ok (${seconds} s)`);
  } else {
    failures++;
    console.error(`check-package: ${label}: FAILED (exit ${code}, ${seconds} s)\n${output.trimEnd()}`);
  }
  return code === 0;
}

function tsconfig(files) {
  return {
    compilerOptions: {
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2023',
      strict: true,
      types: ['node'],
      noEmit: true,
    },
    files,
  };
}

async function checkProject(work, tarball, kind) {
  const dir = join(work, kind);
  mkdirSync(dir);
  // The project's own overrides too: without them npm would not install here (see package.json).
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `sharemount-check-${kind}`, private: true, type: kind, overrides: pkg.overrides ?? {} }, null, 2));
  const installed = await step(`${kind}: npm install`, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error', tarball, ...companions], dir);
  if (!installed) return;

  copyFileSync(join(repo, 'scripts/package-check/probe.mjs'), join(dir, 'probe.mjs'));
  writeFileSync(join(dir, 'entries.json'), JSON.stringify({ entries, promised: promisedExports }));
  await step(`${kind}: load every entry point`, process.execPath, ['probe.mjs', kind === 'module' ? 'import' : 'require', 'entries.json'], dir);

  // Every declaration file the build emitted, besides those the entry points reach: the
  // CommonJS ones (.d.cts) included, so that none ships unparsable or ill-typed.
  const dist = join(dir, 'node_modules', pkg.name, 'dist');
  const declarations = readdirSync(dist, { recursive: true }).filter((f) => /\.d\.c?ts$/.test(f)).map((f) => join('node_modules', pkg.name, 'dist', f));
  const files = ['entries.ts', ...declarations.sort()];
  writeFileSync(join(dir, 'entries.ts'), entriesFile(entries, kind));
  if (kind === 'module') {
    for (const example of examples) {
      mkdirSync(join(dir, dirname(example.path)), { recursive: true });
      writeFileSync(join(dir, example.path), example.text);
      files.push(example.path);
    }
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig(files), null, 2));
  const what = kind === 'module' ? 'entry points, declarations, examples' : 'entry points, declarations';
  for (const skipLibCheck of ['false', 'true']) {
    await step(`${kind}: tsc --noEmit (${what}, skipLibCheck ${skipLibCheck})`, process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false', '--skipLibCheck', skipLibCheck], dir);
  }
  // module node16 keeps the rule of TypeScript before 5.8: CommonJS code may not require a
  // module whose types are ESM (TS1479). It fails when `require` resolves to a .d.ts.
  if (kind === 'commonjs') {
    await step(`${kind}: tsc --noEmit (entry points, module node16)`, process.execPath, [tsc, '-p', 'tsconfig.json', '--pretty', 'false', '--module', 'node16', '--moduleResolution', 'node16'], dir);
  }
}

const { files: examples, errors } = exampleFiles(repo, entries);
for (const error of errors) {
  console.error(`check-package: ${error}`);
  failures++;
}
for (const declaration of entries.flatMap((entry) => entry.declarations)) {
  if (!existsSync(join(repo, declaration))) {
    console.error(`check-package: ${declaration} is missing: build first (tsup)`);
    failures++;
  }
}
if (failures === 0) {
  const work = mkdtempSync(join(tmpdir(), 'sharemount-package-check-'));
  try {
    const { code, output } = await run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], repo);
    if (code !== 0) {
      console.error(`check-package: npm pack failed\n${output}`);
      failures++;
    } else {
      const tarball = join(work, JSON.parse(output.slice(output.indexOf('[')))[0].filename);
      console.log(`check-package: packed ${tarball}; entry points: ${entries.map((e) => e.specifier).join(', ')}`);
      // The two projects in parallel: most of the time is npm and tsc waiting on the disk.
      await Promise.all([checkProject(work, tarball, 'module'), checkProject(work, tarball, 'commonjs')]);
    }
  } finally {
    if (process.env.SHAREMOUNT_KEEP_PACKAGE_CHECK === '1') console.log(`check-package: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}
process.exit(failures === 0 ? 0 : 1);
