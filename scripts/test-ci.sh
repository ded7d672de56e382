#!/usr/bin/env bash
# The test command (`npm run test:ci`): installs the system packages the integration tests need
# when they are missing, type-checks, runs the unit tests, then the integration tests as root
# inside a private mount namespace, so that no mount they make can leak to the host.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Any non-empty CI is CI (services set `true`, `1` or their own name): there a run without root
# fails at once instead of passing with the integration tests skipped.
on_ci() { [ -n "${CI:-}" ]; }
if on_ci && [ "$(id -u)" -ne 0 ]; then echo "test-ci: CI=${CI} is set and the integration tests need root (real mounts); run as root" >&2; exit 1; fi

packages=(util-linux mount xfsprogs e2fsprogs lvm2 nfs-common rpcbind libnfs-utils bindfs fuse3 nfs-ganesha nfs-ganesha-vfs gcc libc6-dev strace)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "test-ci: missing packages ${missing[*]} and not root to install them" >&2; exit 1; fi
  echo "test-ci: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
# One closing line per project, "<project>: N passed, N failed", from vitest's JSON report.
summarize() {
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`${process.argv[2]}: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);' "$results/$1.json" "$1" || true
}

tsc --noEmit -p tsconfig.json
vitest run --project unit --reporter=default --reporter=json --outputFile.json="$results/unit.json" || { summarize unit; exit 1; }
summarize unit
# The package as users get it: packed, installed into an ESM and a CommonJS project, every entry
# point loaded and type-checked there, and the examples type-checked against it.
tsup --silent
node scripts/check-package.mjs

if [ "$(id -u)" -ne 0 ]; then
  echo "test-ci: skipping integration tests: they need root for real mounts" >&2
  exit 0
fi
# --propagation private: mounts made inside stay inside, and host mounts do not propagate in.
status=0
unshare --mount --propagation private -- vitest run --project integration --reporter=default --reporter=json --outputFile.json="$results/integration.json" "$@" || status=$?
summarize integration
exit "$status"
