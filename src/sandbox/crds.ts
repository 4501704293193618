import type { KubeConfig } from '@kubernetes/client-node';
import { crdOf } from '../api/crd.js';
import { KINDS } from '../api/kinds.js';
import { rawRequest } from './raw.js';
import { waitFor } from './wait.js';

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

// Applies Graft's CRDs (from src/api, the same source as crds/) with server-side apply and waits until
// each is Established, so the next request for a Graft kind is served.
export async function installCrds(kc: KubeConfig): Promise<void> {
  for (const k of KINDS) {
    const crd = crdOf(k);
    const name = (crd.metadata as { name: string }).name;
    const res = await rawRequest(kc, 'PATCH', `${CRDS}/${name}?fieldManager=graft-sandbox&force=true`, crd, 'application/apply-patch+yaml');
    if (res.status >= 300) throw new Error(`installing CRD ${name}: HTTP ${res.status}: ${res.text}`);
  }
  for (const k of KINDS) {
    await waitFor(`CRD ${k.plural} Established`, async () => {
      const res = await rawRequest(kc, 'GET', `${CRDS}/${k.plural}.graft.dev`);
      const conds = (res.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
      return conds.some((c) => c.type === 'Established' && c.status === 'True');
    }, 30_000, 100);
  }
}
