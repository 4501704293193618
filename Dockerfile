# syntax=docker/dockerfile:1
# Graft's one image: `graft operator`, `graft agent` (the serving-pod sidecar and its stage-base init
# step), `graft merge` (merge Jobs) and `graft check` (the chart's helm test). `make image` builds it.
#
# The base is pinned by exact tag. It was NOT pulled or built where this file was written (no
# container engine there): test/install/dockerfile.test.ts and test/integration/image.test.ts check
# what can be checked without one (docs/install.md, "The image"). Pin the digest too when you build:
#   docker buildx imagetools inspect docker.io/library/node:20.20.2-bookworm-slim
ARG NODE_IMAGE=docker.io/library/node:20.20.2-bookworm-slim

# Compile TypeScript with every dependency (typescript and @types/node are dev dependencies).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node_modules/.bin/tsc -p tsconfig.build.json

# Production dependencies only: no tsx, vitest or typescript in the image.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${NODE_IMAGE}
# Only node and Graft: no package managers in the image that runs.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
    && ln -s /app/bin/graft /usr/local/bin/graft
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# Nothing is written outside /tmp, which the pods mount as an emptyDir: the root filesystem can be
# read-only. 65532 is the uid the chart's and the serving pods' securityContext name (AGENT_UID in
# src/contracts/names.ts); a test checks the three agree.
ENV NODE_ENV=production HOME=/tmp TMPDIR=/tmp
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/node", "--enable-source-maps", "/app/bin/graft"]
CMD ["--help"]
