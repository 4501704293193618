#!/usr/bin/env bash
# `make image`: builds Graft's one image (Dockerfile) with the first builder that works here:
# docker (with a reachable engine), podman, then buildah. IMAGE=repo:tag overrides the name, which
# otherwise comes from src/version.ts (the chart and the operator default to the same one).
set -euo pipefail
cd "$(dirname "$0")/.."
image="${IMAGE:-$(node_modules/.bin/tsx -e "import { DEFAULT_IMAGE } from './src/version.ts'; process.stdout.write(DEFAULT_IMAGE)")}"
args=(build -f Dockerfile -t "$image" ${IMAGE_BUILD_ARGS:-} .)

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  builder=docker
elif command -v podman >/dev/null 2>&1; then
  builder=podman
elif command -v buildah >/dev/null 2>&1; then
  builder=buildah; args=(bud -f Dockerfile -t "$image" ${IMAGE_BUILD_ARGS:-} .)
else
  cat >&2 <<MSG
make image: no image builder here.
  - docker: $(command -v docker >/dev/null 2>&1 && echo "the CLI is installed but no engine answers (docker info fails)" || echo "not installed")
  - podman, buildah: not installed
Install one of them (or start the Docker engine) and run \`make image\` again; or build elsewhere:
  docker build -t $image .
What can be checked without a builder runs in make test (test/install/dockerfile.test.ts,
test/integration/image.test.ts); docs/install.md says what they cover.
MSG
  exit 2
fi
echo "[image] $builder ${args[*]}" >&2
"$builder" "${args[@]}"
echo "[image] built $image" >&2
