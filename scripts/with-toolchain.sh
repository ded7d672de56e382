#!/usr/bin/env bash
# Runs a command with the toolchain this project needs: Node 22 or newer and the locked
# dependencies. The machine's own Node may be older (Debian 12 ships 20, which is end-of-life
# and too old for execa 10, vitest 5 and tsup 9), so a private Node 22 is installed from the
# npm registry into a cache directory once; nothing system-wide is replaced.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
toolchain=${SHAREMOUNT_TOOLCHAIN:-${XDG_CACHE_HOME:-$HOME/.cache}/sharemount/node22}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  if [ ! -x "$toolchain/bin/node" ]; then
    echo "with-toolchain: Node $(node --version 2>/dev/null || echo none) is too old; installing Node 22 into $toolchain" >&2
    npm install --global --prefix "$toolchain" --no-fund --no-audit --loglevel=error node@22 >&2
  fi
  export PATH="$toolchain/bin:$PATH"
fi

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "with-toolchain: installing locked dependencies (npm ci)" >&2
  npm ci --no-fund --no-audit --loglevel=error >&2
fi
export PATH="$here/node_modules/.bin:$PATH"
exec "$@"
