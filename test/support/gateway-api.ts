import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';

// The Gateway API's standard CRDs (HTTPRoute, Gateway, GatewayClass, ...) from the module
// sigs.k8s.io/gateway-api, as the Go module proxy serves it (GOMODCACHE keeps it after the first
// download). For the lead: installGatewayApiCrds is meant to move into the sandbox beside the
// gateway helper's Traefik build (hack/tools.sh and src/sandbox); routing's tests only need this.
export const GATEWAY_API_VERSION = 'v1.4.0'; // as hack/tools.sh pins it (the gateway helper's branch)

export function gatewayApiCrdDir(version = GATEWAY_API_VERSION): string {
  const work = mkdtempSync(join(tmpdir(), 'graft-gwapi-'));
  try {
    const out = execFileSync('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${version}`], { cwd: work, encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GO111MODULE: 'on' } });
    return join((JSON.parse(out) as { Dir: string }).Dir, 'config', 'crd', 'standard');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function installGatewayApiCrds(kc: KubeConfig, version = GATEWAY_API_VERSION): Promise<string[]> {
  const dir = gatewayApiCrdDir(version);
  const names: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const crd = doc.toJS() as { kind?: string; metadata: { name: string } } | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const r = await rawRequest(kc, 'PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=graft-sandbox&force=true`, crd, 'application/apply-patch+yaml');
      if (r.status >= 300) throw new Error(`installing CRD ${crd.metadata.name}: HTTP ${r.status}: ${r.text}`);
      names.push(crd.metadata.name);
    }
  }
  for (const name of names) {
    await waitFor(`CRD ${name} Established`, async () => {
      const r = await rawRequest(kc, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      return ((r.body as { status?: { conditions?: Array<{ type: string; status: string }> } }).status?.conditions ?? []).some((c) => c.type === 'Established' && c.status === 'True');
    }, 30_000, 100);
  }
  return names;
}
