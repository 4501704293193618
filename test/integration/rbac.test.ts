import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../support/ports.js';
import { operatorServiceAccountKubeconfig } from '../support/rbac.js';
import { gpt2BaseModel, startSandbox, type Sandbox } from '../support/sandbox.js';

// The operator with exactly the permissions of manifests/rbac/operator.yaml (a ServiceAccount
// token, leader election on): the whole loop works and the API server refuses it nothing.
type Obj = Record<string, any>;
const NS = 'default';
const ready = (o: Obj | undefined) => o?.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True');

describe('least-privilege RBAC (e2e)', () => {
  let sb: Sandbox;
  const get = async (path: string) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'GET', path);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  beforeAll(async () => {
    sb = await startSandbox({
      operatorKubeconfig: (cp) => operatorServiceAccountKubeconfig(cp, NS),
      operatorArgs: ['--leader-elect', '--leader-election-namespace', NS],
    });
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'seqcls/');
  });
  afterAll(async () => { await sb?.stop(); });

  it('runs a BaseModel and an Adapter, and deletes the Adapter, with only the documented verbs', async () => {
    let r = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, gpt2BaseModel('gpt2', sb.gw, { replicas: 2 }));
    expect(r.status, r.text).toBe(201);
    r = await rawRequest(sb.cp.kubeConfig, 'POST', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'seqcls' }, spec: { baseModel: 'gpt2', source: { uri: 's3://adapters/seqcls/' }, replicas: 2 },
    });
    expect(r.status, r.text).toBe(201);
    await waitFor('BaseModel Ready', async () => ready(await get(`/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels/gpt2`)), 90_000, 250);
    await waitFor('Adapter Ready', async () => ready(await get(`/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/seqcls`)), 90_000, 250);
    // Delete the Service: recreated by a create through server-side apply.
    await rawRequest(sb.cp.kubeConfig, 'DELETE', `/api/v1/namespaces/${NS}/services/gpt2`);
    await waitFor('Service recreated', async () => !!(await get(`/api/v1/namespaces/${NS}/services/gpt2`)), 30_000, 250);
    r = await rawRequest(sb.cp.kubeConfig, 'DELETE', `/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/seqcls`);
    expect(r.status).toBe(200);
    await waitFor('Adapter gone', async () => !(await get(`/apis/graft.dev/v1alpha1/namespaces/${NS}/adapters/seqcls`)), 60_000, 250);

    const metrics = await sb.operator.metrics();
    const forbidden = metrics.split('\n').filter((l) => /^(rest_client_requests_total|graft_kube_requests_total)\{code="403"/.test(l));
    expect(forbidden, `${forbidden.join('\n')}\n${sb.operator.proc.output.slice(-3000)}`).toEqual([]);
    expect(sb.operator.proc.output).not.toMatch(/forbidden/i);
    expect(metrics).toMatch(/leader_election_master_status\{name="graft-operator"\} 1/);
  });
});
