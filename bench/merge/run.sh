#!/usr/bin/env bash
# Entry point of `make bench-merge`: prints figures, asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The numpy baselines run on Debian's numpy (python3-numpy) with OpenBLAS: without
# libopenblas0-pthread numpy falls back to the reference BLAS, many times slower, and the dense
# figure is inflated. Install both when missing (as root); bench.ts prints the BLAS numpy loaded.
PKGS="python3-numpy libopenblas0-pthread"
if ! dpkg -s $PKGS >/dev/null 2>&1 && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q $PKGS >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $PKGS >/dev/null; }) \
    || echo "bench-merge: could not install $PKGS; the numpy baselines may fail or run on the reference BLAS" >&2
fi
exec node --import tsx bench/merge/bench.ts "$@"
