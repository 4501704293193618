import { readFileSync } from 'node:fs';

// The package version, read once from package.json (two levels up from both src/ and dist/).
export const VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
})();

// Graft's one image (operator, agent and merge Jobs), named in this one place: the operator's
// --agent-image default, the chart's Chart.yaml, values.yaml and schema defaults (written by
// `graft generate`), `make image` and docs/install.md all take it from here.
export const IMAGE_REPOSITORY = 'ghcr.io/graft-dev/graft';
export const IMAGE_TAG = `v${VERSION}`;
export const DEFAULT_IMAGE = `${IMAGE_REPOSITORY}:${IMAGE_TAG}`;
