import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWN_NAMESPACE_DEFAULTS, WATCHED_NAMESPACE_RULES, ownNamespaceRules, type Rule } from '../../src/rbac/rules.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../support/ports.js';
import { canI, canIList, ensureNamespace, operatorServiceAccountKubeconfig, operatorUser, type CanI, type OperatorRbac } from '../support/rbac.js';
import { installGatewayApiCrds } from '../../src/sandbox/gateway.js';
import { gatewayApiCrds } from '../support/gateway.js';
import { gpt2BaseModel, startSandbox, type Sandbox } from '../support/sandbox.js';

// The operator as a ServiceAccount bound only to what manifests/rbac/ grants for two watched
// namespaces (namespaced.yaml stamped for each) and its own namespace (own-namespace.yaml), with
// leader election on: the whole loop works and the API server refuses it nothing; and
// `kubectl auth can-i` shows what it cannot do: read any Secret in a watched namespace, read a
// Secret of its own namespace other than the master key, touch a third namespace, or read
// anything cluster-wide.
type Obj = Record<string, any>;
const WATCHED = 'default'; // the sandbox's S3 credentials Secret lives here
const WATCHED_2 = 'team-b';
const OPERATOR_NS = 'graft-system';
const UNWATCHED = 'other';
const RBAC: OperatorRbac = { operatorNamespace: OPERATOR_NS, watched: [WATCHED, WATCHED_2] };
const ready = (o: Obj | undefined) => o?.status?.conditions?.some((c: Obj) => c.type === 'Ready' && c.status === 'True');

// Every (verb, resource) a rule grants, spelled as kubectl takes it (resource.group[/name], --subresource).
function grants(rules: readonly Rule[]): Array<{ verb: string; resource: string; subresource?: string; name?: string }> {
  return rules.flatMap((r) => r.resources.flatMap((res) => r.apiGroups.flatMap((g) => r.verbs.flatMap((verb) => {
    const [base, subresource] = res.split('/');
    const resource = `${base}${g ? `.${g}` : ''}`;
    const sub = subresource ? { subresource } : {};
    return r.resourceNames ? r.resourceNames.map((name) => ({ verb, resource: `${resource}/${name}`, name, ...sub })) : [{ verb, resource, ...sub }];
  }))));
}

// What every authenticated user may do anywhere (system:basic-user): ask what it may do.
const SELF_REVIEWS = /^self(subject(access|rules)?)?reviews\.(authentication|authorization)\.k8s\.io$/;

describe('least-privilege RBAC (e2e)', () => {
  let sb: Sandbox;
  const user = operatorUser(RBAC);
  const get = async (path: string) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'GET', path);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const post = async (path: string, body: unknown) => {
    const r = await rawRequest(sb.cp.kubeConfig, 'POST', path, body);
    expect(r.status, r.text).toBe(201);
  };
  // Waits for progress, and stops at once when the operator logs a refusal (a missing verb).
  const forbidden = () => sb.operator.proc.output.split('\n').find((l) => /forbidden|"code":403\b|\(403\)/i.test(l));
  const progress = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
    await waitFor(what, async () => !!forbidden() || await check(), timeoutMs, 250);
    expect(forbidden(), `the API server refused the operator while waiting for ${what}`).toBeUndefined();
  };
  const checkAll = async (qs: CanI[]) => {
    const out: Array<CanI & { allowed: boolean }> = [];
    for (let i = 0; i < qs.length; i += 6) out.push(...await Promise.all(qs.slice(i, i + 6).map(async (q) => ({ ...q, allowed: await canI(sb.cp, user, q) }))));
    return out;
  };

  beforeAll(async () => {
    sb = await startSandbox({
      operatorKubeconfig: async (cp) => {
        for (const ns of [WATCHED_2, UNWATCHED]) await ensureNamespace(cp, ns);
        // HTTPRoutes are among what the rules grant (routing writes them where a BaseModel names a Gateway).
        await installGatewayApiCrds(cp.kubeConfig, gatewayApiCrds());
        return operatorServiceAccountKubeconfig(cp, RBAC);
      },
      operatorArgs: ['--leader-elect', '--leader-election-namespace', OPERATOR_NS, '--namespaces', `${WATCHED},${WATCHED_2}`],
    });
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'seqcls/');
  });
  afterAll(async () => { await sb?.stop(); });

  it('runs a BaseModel and an Adapter in a watched namespace with only the generated Roles', async () => {
    const bmPath = (ns: string, name = '') => `/apis/graft.dev/v1alpha1/namespaces/${ns}/basemodels${name ? `/${name}` : ''}`;
    await post(bmPath(WATCHED), gpt2BaseModel('gpt2', sb.gw, { replicas: 2, routing: { gateway: { name: 'inference' } } }));
    await post(`/apis/graft.dev/v1alpha1/namespaces/${WATCHED}/adapters`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'seqcls' }, spec: { baseModel: 'gpt2', source: { uri: 's3://adapters/seqcls/' }, replicas: 2 },
    });
    // The second watched namespace gets its children too; the unwatched one is left alone.
    await post(bmPath(WATCHED_2), gpt2BaseModel('idle', sb.gw, { replicas: 0 }));
    await post(bmPath(UNWATCHED), gpt2BaseModel('idle', sb.gw, { replicas: 0 }));

    await progress('BaseModel Ready', async () => ready(await get(bmPath(WATCHED, 'gpt2'))), 90_000);
    await progress('Adapter Ready', async () => ready(await get(`/apis/graft.dev/v1alpha1/namespaces/${WATCHED}/adapters/seqcls`)), 90_000);
    // Routing: the Adapter's Service and EndpointSlice, the BaseModel's HTTPRoute naming both.
    await progress('the Adapter\'s Service and EndpointSlice', async () => !!(await get(`/api/v1/namespaces/${WATCHED}/services/adapter-seqcls`)) && !!(await get(`/apis/discovery.k8s.io/v1/namespaces/${WATCHED}/endpointslices/adapter-seqcls`)), 30_000);
    await progress('the HTTPRoute routing the Adapter', async () => JSON.stringify((await get(`/apis/gateway.networking.k8s.io/v1/namespaces/${WATCHED}/httproutes/gpt2-0`))?.spec?.rules ?? []).includes('adapter-seqcls'), 60_000);
    expect(await get(`/apis/apps/v1/namespaces/${WATCHED}/deployments/gpt2`)).toBeDefined();
    for (const s of ['gpt2-agent-token', 'gpt2-engine-key', 'gpt2-agent-tls']) {
      expect(await get(`/api/v1/namespaces/${WATCHED}/secrets/${s}`), s).toBeDefined();
    }
    expect(await get(`/api/v1/namespaces/${OPERATOR_NS}/secrets/${OWN_NAMESPACE_DEFAULTS.masterKeySecret}`)).toBeDefined();
    await progress(`the Deployment in ${WATCHED_2}`, async () => !!(await get(`/apis/apps/v1/namespaces/${WATCHED_2}/deployments/idle`)), 30_000);
    expect(await get(`/apis/apps/v1/namespaces/${UNWATCHED}/deployments/idle`)).toBeUndefined();
    expect((await get(bmPath(UNWATCHED, 'idle')))?.status).toBeUndefined();

    // Delete the Service: made again (a get, then a create through server-side apply).
    await rawRequest(sb.cp.kubeConfig, 'DELETE', `/api/v1/namespaces/${WATCHED}/services/gpt2`);
    await progress('Service recreated', async () => !!(await get(`/api/v1/namespaces/${WATCHED}/services/gpt2`)), 30_000);
    const r = await rawRequest(sb.cp.kubeConfig, 'DELETE', `/apis/graft.dev/v1alpha1/namespaces/${WATCHED}/adapters/seqcls`);
    expect(r.status).toBe(200);
    await progress('Adapter gone', async () => !(await get(`/apis/graft.dev/v1alpha1/namespaces/${WATCHED}/adapters/seqcls`)), 60_000);

    const metrics = await sb.operator.metrics();
    const refused = metrics.split('\n').filter((l) => /^(rest_client_requests_total|graft_kube_requests_total)\{.*code="403"/.test(l));
    expect(refused, `${refused.join('\n')}\n${sb.operator.proc.output.slice(-3000)}`).toEqual([]);
    expect(forbidden()).toBeUndefined();
    expect(metrics).toMatch(/leader_election_master_status\{name="graft-operator"\} 1/);
  });

  it('may do exactly what the rules grant in each watched namespace and in its own', async () => {
    const qs: CanI[] = [
      ...[WATCHED, WATCHED_2].flatMap((namespace) => grants(WATCHED_NAMESPACE_RULES).map((g) => ({ ...g, namespace }))),
      ...grants(ownNamespaceRules()).map((g) => ({ ...g, namespace: OPERATOR_NS })),
    ];
    const denied = (await checkAll(qs)).filter((q) => !q.allowed);
    expect(denied).toEqual([]);
  });

  it('cannot read any Secret in a watched namespace, only create them', async () => {
    const results = await checkAll([WATCHED, WATCHED_2].flatMap((namespace) => [
      ...['get', 'list', 'watch', 'update', 'patch', 'delete'].map((verb) => ({ verb, resource: 'secrets', namespace })),
      { verb: 'get', resource: 'secrets/s3-creds', namespace }, // the S3 credentials the pods mount
      { verb: 'get', resource: 'secrets/gpt2-agent-token', namespace }, // nor one it made itself
    ]));
    expect(results.filter((q) => q.allowed)).toEqual([]);
    for (const namespace of [WATCHED, WATCHED_2]) expect(await canI(sb.cp, user, { verb: 'create', resource: 'secrets', namespace })).toBe(true);
  });

  it('reads in its own namespace only the master key and the Lease, by name', async () => {
    await post(`/api/v1/namespaces/${OPERATOR_NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'someone-elses' }, stringData: { k: 'v' } });
    const results = await checkAll([
      ...['list', 'watch', 'update', 'patch', 'delete'].map((verb) => ({ verb, resource: 'secrets', namespace: OPERATOR_NS })),
      { verb: 'get', resource: 'secrets/someone-elses', namespace: OPERATOR_NS },
      { verb: 'get', resource: 'secrets', namespace: OPERATOR_NS }, // any Secret
      { verb: 'update', resource: `secrets/${OWN_NAMESPACE_DEFAULTS.masterKeySecret}`, namespace: OPERATOR_NS },
      { verb: 'get', resource: 'leases.coordination.k8s.io/another-lease', namespace: OPERATOR_NS },
      { verb: 'list', resource: 'leases.coordination.k8s.io', namespace: OPERATOR_NS },
      { verb: 'delete', resource: `leases.coordination.k8s.io/${OWN_NAMESPACE_DEFAULTS.leaseName}`, namespace: OPERATOR_NS },
      { verb: 'list', resource: 'pods', namespace: OPERATOR_NS },
      { verb: 'list', resource: 'basemodels.graft.dev', namespace: OPERATOR_NS },
    ]);
    expect(results.filter((q) => q.allowed)).toEqual([]);
    expect(await canI(sb.cp, user, { verb: 'get', resource: `secrets/${OWN_NAMESPACE_DEFAULTS.masterKeySecret}`, namespace: OPERATOR_NS })).toBe(true);
  });

  it('can do nothing in a namespace it does not watch', async () => {
    const every = [...grants(WATCHED_NAMESPACE_RULES), ...grants(ownNamespaceRules())];
    const results = await checkAll([...every.map((g) => ({ ...g, namespace: UNWATCHED })), { verb: '*', resource: '*', namespace: UNWATCHED }]);
    expect(results.filter((q) => q.allowed)).toEqual([]);
    // The rules the API server would apply there: only the self-reviews every user has.
    const rows = await canIList(sb.cp, user, UNWATCHED);
    expect(rows.length).toBeGreaterThan(0); // the listing was parsed
    expect(rows.filter((r) => !SELF_REVIEWS.test(r.resource))).toEqual([]);
  });

  it('can read nothing cluster-wide', async () => {
    const every = [...grants(WATCHED_NAMESPACE_RULES), ...grants(ownNamespaceRules())].filter((g) => !g.name);
    const clusterScoped = ['nodes', 'namespaces', 'customresourcedefinitions.apiextensions.k8s.io', 'clusterroles.rbac.authorization.k8s.io', 'persistentvolumes']
      .flatMap((resource) => ['get', 'list', 'watch'].map((verb) => ({ verb, resource })));
    // No namespace: kubectl asks with -A, i.e. for the verb in every namespace at once.
    const results = await checkAll([...every.map(({ verb, resource, subresource }) => ({ verb, resource, subresource })), ...clusterScoped]);
    expect(results.filter((q) => q.allowed)).toEqual([]);
  });
});
