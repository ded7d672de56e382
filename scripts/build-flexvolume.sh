#!/usr/bin/env bash
# Builds FlexVolume drivers into single executables that run on a node without Node.js:
#   1. esbuild bundles the driver's entry and everything it imports into one CommonJS file
#      (scripts/bundle-flexvolume.mjs; lazy imports stay lazy inside it), and the main script
#      that evaluates it (src/flexvolume/sea-main.ts);
#   2. the bundle's V8 code cache is made after a warm-up (scripts/flexvolume-code-cache.cjs);
#   3. node --experimental-sea-config makes the blob: the main script (with its code cache),
#      the bundle and its cache as assets. Every call is its own process, started from the
#      executable alone;
#   4. postject injects the blob into a copy of this node binary.
# Output: build/flexvolume/<vendor~driver>/<driver>, ready for the installer.
# Usage: scripts/build-flexvolume.sh [<entry.ts>=<vendor~driver> ...]   (default: the examples)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if [ $# -eq 0 ]; then
  set -- examples/flexvolume-nfs/driver.ts=sharemount~nfs examples/flexvolume-lvm/driver.ts=sharemount~lvm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 22 ]; then echo "build-flexvolume: Node $(node --version) is too old; run through scripts/with-toolchain.sh" >&2; exit 1; fi
node_binary=$(node -p 'process.execPath')
# The fuse postject flips so that node looks for the injected blob (Node's documented sentinel).
sentinel=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

for spec in "$@"; do
  entry=${spec%%=*}
  driver_dir=${spec#*=}
  case "$driver_dir" in *~*) ;; *) echo "build-flexvolume: $driver_dir must be vendor~driver" >&2; exit 1 ;; esac
  driver=${driver_dir#*~}
  out=build/flexvolume/$driver_dir
  work=build/flexvolume/.work/$driver_dir
  mkdir -p "$out" "$work"

  node scripts/bundle-flexvolume.mjs "$entry" "$work/driver.cjs"
  node scripts/bundle-flexvolume.mjs --main "$work/main.cjs"
  node scripts/flexvolume-code-cache.cjs "$work/driver.cjs" "$work/driver.cache"
  # execArgvExtension "none": NODE_OPTIONS in kubelet's environment is ignored, so no flag or
  # --require from a node's environment reaches the driver (or breaks its one-document reply).
  cat >"$work/sea-config.json" <<JSON
{ "main": "$work/main.cjs", "output": "$work/$driver.blob", "disableExperimentalSEAWarning": true, "useCodeCache": true, "execArgvExtension": "none",
  "assets": { "driver.cjs": "$work/driver.cjs", "driver.cache": "$work/driver.cache" } }
JSON
  node --experimental-sea-config "$work/sea-config.json" >"$work/sea.log" 2>&1 || { cat "$work/sea.log" >&2; exit 1; }

  cp "$node_binary" "$work/$driver"
  chmod u+w "$work/$driver"
  # postject prints progress and harmless ELF-note warnings: keep them unless it fails.
  if ! postject "$work/$driver" NODE_SEA_BLOB "$work/$driver.blob" --sentinel-fuse "$sentinel" >"$work/postject.log" 2>&1; then
    echo "build-flexvolume: postject failed for $driver:" >&2; cat "$work/postject.log" >&2; exit 1
  fi
  # A Node that does not know execArgvExtension would ignore it: refuse to ship an executable
  # that a node's NODE_OPTIONS can reach (here a --require of nothing, which would fail the call).
  if ! NODE_OPTIONS="--require=/nonexistent/sharemount-build-check" "$work/$driver" init | grep -q '"status":"Success"'; then
    echo "build-flexvolume: $driver honours NODE_OPTIONS; build with a Node that supports the SEA setting execArgvExtension" >&2; exit 1
  fi
  # Rename into place, so that a running test or installer never sees a half-written file.
  mv -f "$work/$driver" "$out/$driver"
  echo "build-flexvolume: $out/$driver" >&2
done
