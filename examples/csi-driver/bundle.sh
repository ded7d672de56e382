#!/usr/bin/env bash
# Bundles the plugin into one file for its image: <out>/driver.mjs and the proto it serves at
# <out>/proto/csi.proto (found from the bundle's place). Usage: bundle.sh <out-dir>
set -euo pipefail
out=${1:?usage: bundle.sh <out-dir>}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mkdir -p "$out"
# ES module output, with a require() for the CommonJS dependencies (gRPC, pino) to use.
npx --no-install esbuild examples/csi-driver/driver.ts --bundle --platform=node --format=esm --target=node22 \
  --banner:js="import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" \
  --outfile="$out/driver.mjs" --log-level=error
rm -rf "$out/proto"
cp -r proto "$out/proto"
