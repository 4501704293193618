#!/usr/bin/env bash
# Entry point of `make bench-merge`: prints figures, asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The dense baseline runs on Debian's numpy (python3-numpy); install it when this machine lacks it.
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q python3-numpy >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q python3-numpy >/dev/null; }) \
    || echo "bench-merge: could not install python3-numpy; the dense baseline will be skipped or fail" >&2
fi
exec node --import tsx bench/merge/bench.ts "$@"
