// `make manifests`: writes manifests/install.yaml from charts/graft (src/install/manifests.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INSTALL_MANIFEST, renderInstallManifest } from '../src/install/manifests.js';
import { toolPath } from '../test/support/tools.js';

const root = join(import.meta.dirname, '..');
const text = await renderInstallManifest(toolPath('helm'), root);
writeFileSync(join(root, INSTALL_MANIFEST), text);
process.stdout.write(`wrote ${INSTALL_MANIFEST}\n`);
