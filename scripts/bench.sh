#!/usr/bin/env bash
# The benchmark (`npm run bench [-- section...]`): bench/run.ts as root inside a private mount
# namespace, so that none of the thousands of mounts it makes is ever visible to the host, and
# whatever a failed section leaves mounted goes away with the namespace. Writes docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "bench: the benchmark makes real mounts and must run as root" >&2
  exit 1
fi
# --propagation private: mounts made inside stay inside, and host mounts do not propagate in.
exec unshare --mount --propagation private -- tsx bench/run.ts "$@"
