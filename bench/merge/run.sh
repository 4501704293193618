#!/usr/bin/env bash
# Entry point of `make bench-merge`: prints figures, asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec node --import tsx bench/merge/bench.ts "$@"
