#!/usr/bin/env bash
# `npm run demo`: runs the demo in a private mount namespace when root, so that even a demo
# killed halfway leaves no mount on the host; without root the demo itself explains.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$(id -u)" -eq 0 ]; then exec unshare --mount --propagation private -- tsx examples/demo/demo.ts; fi
exec tsx examples/demo/demo.ts
