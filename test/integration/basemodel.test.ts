import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { KeyRing } from '../../src/security/keys.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { startOperator, requestsByMethod, type OperatorProc } from '../support/operator.js';
import { waitFor } from '../support/ports.js';
import { toolPath } from '../support/tools.js';

// The BaseModel controller against a real control plane with the controller manager, the
// scheduler and KWOK nodes (8 nvidia.com/gpu each), with `graft operator` as its own process.
type Obj = Record<string, any>;
const NS = 'default';
const bmPath = (name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels${name ? `/${name}` : ''}`;
const depPath = (name = '') => `/apis/apps/v1/namespaces/${NS}/deployments${name ? `/${name}` : ''}`;
const npPath = (name = '') => `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies${name ? `/${name}` : ''}`;
const secretPath = (name: string) => `/api/v1/namespaces/${NS}/secrets/${name}`;
const AGENT_IMAGE = 'ghcr.io/graft-dev/graft:e2e';

describe('BaseModel controller (e2e)', () => {
  let cp: ControlPlane;
  let op: OperatorProc;
  const get = async (path: string) => {
    const r = await rawRequest(cp.kubeConfig, 'GET', path);
    return r.status === 200 ? (r.body as Obj) : undefined;
  };
  const create = async (o: Obj) => {
    const r = await rawRequest(cp.kubeConfig, 'POST', bmPath(), o);
    expect(r.status, r.text).toBe(201);
  };
  const patch = async (path: string, body: Obj) => {
    const r = await rawRequest(cp.kubeConfig, 'PATCH', path, body, 'application/merge-patch+json');
    expect(r.status, r.text).toBe(200);
    return r.body as Obj;
  };
  const cond = (o: Obj | undefined, type: string) => o?.status?.conditions?.find((c: Obj) => c.type === type);
  const waitReady = (name: string, replicas: number, timeout = 60_000) => waitFor(`${name} Ready with ${replicas} replicas`, async () => {
    const o = await get(bmPath(name));
    return cond(o, 'Ready')?.status === 'True' && o!.status.readyReplicas === replicas && o!.status.endpoints?.length === replicas
      && o!.status.observedGeneration === o!.metadata.generation;
  }, timeout, 200);
  // The key ring the operator derives every per-BaseModel secret from: its master key Secret.
  const keyRing = async () => new KeyRing(Buffer.from((await get(secretPath('graft-operator-key')))!.data['master-key'], 'base64'));
  const events = async (name: string) => {
    const r = await rawRequest(cp.kubeConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${NS}/events?fieldSelector=regarding.name=${name}`);
    return ((r.body as Obj).items ?? []) as Obj[];
  };

  beforeAll(async () => {
    cp = await startControlPlane({ e2e: true });
    op = await startOperator(cp.kubeconfigPath, ['--leader-elect=false', '--agent-image', AGENT_IMAGE, '--sync-period', '5s']);
  });
  afterAll(async () => {
    await op?.stop();
    await cp?.stop();
  });

  it('runs vLLM serving pods with exactly the expected template', async () => {
    await create({
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'llama' },
      spec: {
        model: { source: { uri: 'meta-llama/Llama-3-8B' } },
        engine: { args: ['--gpu-memory-utilization', '0.9'], env: [{ name: 'FOO', value: 'bar' }, { name: 'HF_HOME', value: '/data/hf' }] },
        replicas: 2,
        nodeSelector: { 'nvidia.com/gpu.present': 'true' },
        tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        priorityClassName: '', adapters: { maxPerPod: 8, maxLoaded: 2, maxCpuLoaded: 6, maxRank: 32, allowedSources: ['s3://adapters/team-a/', 's3://models-common/'] },
        storage: { s3: { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } }, cache: { size: '10Gi' } },
      },
    });
    await waitFor('Deployment llama', async () => !!(await get(depPath('llama'))), 30_000);
    const dep = (await get(depPath('llama')))!;
    expect(dep.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'BaseModel', name: 'llama', controller: true })]);
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    const pod = dep.spec.template.spec;
    expect(pod.containers).toHaveLength(1);
    const engine = pod.containers[0];
    expect(engine.name).toBe('engine');
    expect(engine.image).toBe('vllm/vllm-openai:v0.11.0');
    expect(engine.command).toBeUndefined();
    expect(engine.args).toEqual([
      '--model', 'meta-llama/Llama-3-8B', '--served-model-name', 'llama', '--port', '8000', '--enable-lora',
      '--max-loras', '2', '--max-cpu-loras', '6', '--max-lora-rank', '32', '--api-key', '$(GRAFT_ENGINE_API_KEY)', '--gpu-memory-utilization', '0.9',
    ]);
    expect(engine.env).toEqual([
      { name: 'VLLM_ALLOW_RUNTIME_LORA_UPDATING', value: 'true' }, { name: 'HOME', value: '/home/graft' }, { name: 'USER', value: 'graft' },
      { name: 'GRAFT_ENGINE_API_KEY', valueFrom: { secretKeyRef: { name: 'llama-engine-key', key: 'api-key' } } },
      { name: 'FOO', value: 'bar' }, { name: 'HF_HOME', value: '/data/hf' },
    ]);
    expect(engine.resources).toEqual({ limits: { 'nvidia.com/gpu': '1' } });
    expect(engine.ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
    expect(engine.startupProbe).toMatchObject({ httpGet: { path: '/health', port: 'http', scheme: 'HTTP' }, periodSeconds: 10, failureThreshold: 360 });
    expect(engine.readinessProbe).toMatchObject({ httpGet: { path: '/health', port: 'http', scheme: 'HTTP' }, periodSeconds: 5 });
    expect(engine.livenessProbe).toMatchObject({ httpGet: { path: '/health', port: 'http', scheme: 'HTTP' } });
    expect(engine.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 });
    expect(engine.volumeMounts).toEqual([
      { name: 'cache', mountPath: '/var/cache/graft' }, { name: 'dshm', mountPath: '/dev/shm' }, { name: 'engine-home', mountPath: '/home/graft' },
    ]);

    expect(pod.initContainers.map((c: Obj) => c.name)).toEqual(['graft-agent']);
    const agent = pod.initContainers[0];
    expect(agent.image).toBe(AGENT_IMAGE);
    expect(agent.args).toEqual(['agent']);
    expect(agent.restartPolicy).toBe('Always');
    expect(agent.env[0]).toEqual({ name: 'GRAFT_POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } });
    const env = Object.fromEntries(agent.env.slice(1).map((e: Obj) => [e.name, e.value]));
    expect(env).toEqual({
      GRAFT_AGENT_PORT: '8095', GRAFT_AGENT_TOKEN_FILE: '/var/run/graft/token/token', GRAFT_AGENT_CACHE_DIR: '/var/cache/graft/adapters',
      GRAFT_AGENT_ENGINE: 'vllm', GRAFT_AGENT_ENGINE_URL: 'http://127.0.0.1:8000', GRAFT_AGENT_MAX_LORA_RANK: '32',
      AWS_REGION: 'us-east-1', GRAFT_AGENT_TLS_CERT_FILE: '/var/run/graft/tls/tls.crt', GRAFT_AGENT_TLS_KEY_FILE: '/var/run/graft/tls/tls.key',
      GRAFT_AGENT_ENGINE_API_KEY_FILE: '/var/run/graft/engine-key/api-key', GRAFT_AGENT_ALLOWED_SOURCES: 's3://adapters/team-a/,s3://models-common/',
      GRAFT_AGENT_BASE_MODEL: 'meta-llama/Llama-3-8B', GRAFT_AGENT_DISK_BUDGET: '10Gi',
      GRAFT_S3_ENDPOINT: 'http://127.0.0.1:9000', GRAFT_S3_FORCE_PATH_STYLE: 'true', GRAFT_S3_CREDENTIALS_DIR: '/var/run/graft/s3',
    });
    expect(agent.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(agent.ports).toEqual([{ name: 'agent', containerPort: 8095, protocol: 'TCP' }]);
    expect(agent.volumeMounts).toEqual([
      { name: 'cache', mountPath: '/var/cache/graft' }, { name: 'agent-token', mountPath: '/var/run/graft/token', readOnly: true },
      { name: 'agent-tls', mountPath: '/var/run/graft/tls', readOnly: true }, { name: 'engine-key', mountPath: '/var/run/graft/engine-key', readOnly: true },
      { name: 'agent-tmp', mountPath: '/tmp' }, { name: 's3-credentials', mountPath: '/var/run/graft/s3', readOnly: true },
    ]);
    expect(agent.readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'agent', scheme: 'HTTPS' } });
    expect(agent.livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'agent', scheme: 'HTTPS' } });
    expect(pod.volumes).toEqual([
      { name: 'cache', emptyDir: { sizeLimit: '10Gi' } },
      { name: 'agent-token', secret: { secretName: 'llama-agent-token', defaultMode: 0o440 } },
      { name: 'agent-tls', secret: { secretName: 'llama-agent-tls', defaultMode: 0o440 } },
      { name: 'engine-key', secret: { secretName: 'llama-engine-key', defaultMode: 0o440 } },
      { name: 'agent-tmp', emptyDir: {} },
      { name: 'engine-home', emptyDir: {} },
      { name: 'dshm', emptyDir: { medium: 'Memory' } },
      { name: 's3-credentials', secret: { secretName: 's3-creds', defaultMode: 0o440 } },
    ]);
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.securityContext).toEqual({ fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });

    // The Service publishes the engine only: the operator calls agents at their pod addresses.
    const svc = (await get(`/api/v1/namespaces/${NS}/services/llama`))!;
    expect(svc.spec.selector).toEqual({ 'graft.dev/basemodel': 'llama' });
    expect(svc.spec.ports.map((p: Obj) => [p.name, p.port, p.targetPort])).toEqual([['http', 8000, 'http']]);

    // The three Secrets, with what the operator's key ring derives (the master key lives in the
    // operator's namespace), owned by the BaseModel and labelled as Graft's.
    const bmObj = (await get(bmPath('llama')))!;
    const ring = await keyRing();
    const ref = { namespace: NS, name: 'llama' };
    const secret = async (name: string) => (await get(`/api/v1/namespaces/${NS}/secrets/${name}`))!;
    const dec = (s: Obj, k: string) => Buffer.from(s.data[k], 'base64').toString();
    const token = await secret('llama-agent-token');
    expect(token.type).toBe('Opaque');
    expect(dec(token, 'token')).toBe(ring.agentToken(ref));
    expect(dec(await secret('llama-engine-key'), 'api-key')).toBe(ring.engineKey(ref));
    const tls = await secret('llama-agent-tls');
    expect(tls.type).toBe('kubernetes.io/tls');
    expect(dec(tls, 'tls.crt')).toBe(ring.agentTls(ref).certPem);
    expect(dec(tls, 'tls.key')).toBe(ring.agentTls(ref).keyPem);
    for (const s of [token, tls, await secret('llama-engine-key')]) {
      expect(s.metadata.ownerReferences).toEqual([{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'llama', uid: bmObj.metadata.uid, controller: true, blockOwnerDeletion: true }]);
      expect(s.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'graft', 'graft.dev/basemodel': 'llama' });
    }

    // The NetworkPolicy: the agent port from the operator's pods only, the engine port from anyone.
    const np = (await get(npPath('llama-graft')))!;
    expect(np.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'BaseModel', name: 'llama', controller: true })]);
    expect(np.spec).toEqual({
      podSelector: { matchLabels: { 'graft.dev/basemodel': 'llama' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'graft', 'app.kubernetes.io/component': 'operator' } },
          }],
          ports: [{ protocol: 'TCP', port: 8095 }],
        },
        { ports: [{ protocol: 'TCP', port: 8000 }] },
      ],
    });

    await waitReady('llama', 2);
    const bm = (await get(bmPath('llama')))!;
    expect(cond(bm, 'Reconciling')?.status).toBe('False');
    expect(cond(bm, 'Stalled')?.status).toBe('False');
    // Pod addresses from the default fake nodes' pod CIDRs (10.244.1.0/24, 10.244.2.0/24).
    for (const e of bm.status.endpoints) expect(e).toEqual({ pod: expect.stringMatching(/^llama-/), address: expect.stringMatching(/^10\.244\.[12]\.\d+$/), ready: true });
    expect((await events('llama')).map((e) => e.reason)).toContain('Created');
  });

  it('runs SGLang with its flags and stages s3:// weights in an init step', async () => {
    await create({
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'qwen' },
      spec: { model: { name: 'qwen-7b', source: { uri: 's3://models/qwen/' } }, engine: { type: 'sglang', port: 30000 }, adapters: { maxPerPod: 4, maxRank: 64 } },
    });
    await waitFor('Deployment qwen', async () => !!(await get(depPath('qwen'))), 30_000);
    const pod = (await get(depPath('qwen')))!.spec.template.spec;
    const engine = pod.containers[0];
    expect(engine.image).toBe('lmsysorg/sglang:v0.5.3');
    expect(engine.command).toEqual(['python3', '-m', 'sglang.launch_server']);
    // The base weights live in a folder keyed by the source URI.
    const base = `/var/cache/graft/base/${createHash('sha256').update('s3://models/qwen/').digest('hex').slice(0, 16)}/model`;
    expect(engine.args).toEqual([
      '--model-path', base, '--served-model-name', 'qwen-7b', '--host', '0.0.0.0', '--port', '30000',
      '--enable-lora', '--lora-target-modules', 'all', '--max-loras-per-batch', '4', '--max-loaded-loras', '4', '--max-lora-rank', '64',
      '--api-key', '$(GRAFT_ENGINE_API_KEY)',
    ]);
    expect(engine.env).toEqual([
      { name: 'HF_HOME', value: '/var/cache/graft/hf' }, { name: 'HOME', value: '/home/graft' }, { name: 'USER', value: 'graft' },
      { name: 'GRAFT_ENGINE_API_KEY', valueFrom: { secretKeyRef: { name: 'qwen-engine-key', key: 'api-key' } } },
    ]);
    expect(engine.ports).toEqual([{ name: 'http', containerPort: 30000, protocol: 'TCP' }]);
    expect(pod.initContainers.map((c: Obj) => c.name)).toEqual(['graft-agent', 'graft-stage-base']);
    const stage = pod.initContainers[1];
    expect(stage.args).toEqual(['agent', 'stage-base', '--source', 's3://models/qwen/', '--dest', base]);
    expect(stage.restartPolicy).toBeUndefined();
    const agentEnv = Object.fromEntries(pod.initContainers[0].env.map((e: Obj) => [e.name, e.value]));
    expect(agentEnv.GRAFT_AGENT_ENGINE).toBe('sglang');
    expect(agentEnv.GRAFT_AGENT_ENGINE_URL).toBe('http://127.0.0.1:30000');
    expect(agentEnv.GRAFT_AGENT_BASE_MODEL).toBeUndefined();
    expect(pod.volumes.find((v: Obj) => v.name === 'cache')).toEqual({ name: 'cache', emptyDir: {} });
    await waitReady('qwen', 1);
  });

  it('follows replicas up and down', async () => {
    await patch(bmPath('llama'), { spec: { replicas: 3 } });
    await waitReady('llama', 3);
    await patch(bmPath('llama'), { spec: { replicas: 1 } });
    await waitReady('llama', 1);
    expect((await get(bmPath('llama')))!.status.replicas).toBe(1);
  });

  it('rolls out an engine change: Reconciling while it runs, then Ready', async () => {
    await patch(bmPath('llama'), { spec: { replicas: 3 } });
    await waitReady('llama', 3);
    const seen = new Set<string>();
    let stop = false;
    const watcher = (async () => {
      while (!stop) {
        const o = await get(bmPath('llama'));
        if (cond(o, 'Reconciling')?.status === 'True') seen.add(`Reconciling:${cond(o, 'Reconciling').reason}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await patch(bmPath('llama'), { spec: { engine: { args: ['--gpu-memory-utilization', '0.8'] } } });
    await waitFor('the new args in the Deployment', async () => (await get(depPath('llama')))!.spec.template.spec.containers[0].args.includes('0.8'), 30_000);
    await waitReady('llama', 3);
    const dep = (await get(depPath('llama')))!;
    expect(dep.status.updatedReplicas).toBe(3);
    stop = true;
    await watcher;
    expect([...seen].some((s) => s.startsWith('Reconciling:'))).toBe(true);
  });

  it('recreates a deleted Deployment and reverts a hand edit of a field it owns', async () => {
    const before = (await get(depPath('llama')))!;
    const del = await rawRequest(cp.kubeConfig, 'DELETE', depPath('llama'));
    expect(del.status).toBe(200);
    await waitFor('a new Deployment', async () => {
      const d = await get(depPath('llama'));
      return !!d && d.metadata.uid !== before.metadata.uid;
    }, 30_000);
    await waitReady('llama', 3);

    await patch(depPath('llama'), { spec: { replicas: 5 } });
    await waitFor('replicas reverted to 3', async () => (await get(depPath('llama')))!.spec.replicas === 3, 30_000);
    // A hand edit as `kubectl edit` makes it: read, change, write back (again on a conflict, since
    // the Deployment controller writes the object's status meanwhile).
    let put;
    for (let attempt = 0; attempt < 10; attempt++) {
      const edited = (await get(depPath('llama')))!;
      edited.spec.template.spec.containers[0].args = ['--model', 'something-else'];
      put = await rawRequest(cp.kubeConfig, 'PUT', depPath('llama'), edited);
      if (put.status !== 409) break;
    }
    expect(put!.status, put!.text).toBe(200);
    await waitFor('args reverted', async () => (await get(depPath('llama')))!.spec.template.spec.containers[0].args.includes('meta-llama/Llama-3-8B'), 30_000);
    await waitReady('llama', 3);

    const secretNames = ['llama-agent-token', 'llama-agent-tls', 'llama-engine-key'];
    const before3 = await Promise.all(secretNames.map(async (n) => (await get(secretPath(n)))!));
    await rawRequest(cp.kubeConfig, 'DELETE', `/api/v1/namespaces/${NS}/services/llama`);
    await waitFor('Service recreated', async () => !!(await get(`/api/v1/namespaces/${NS}/services/llama`)), 30_000);
    // The Secrets are made once and never rewritten.
    for (const [i, n] of secretNames.entries()) expect((await get(secretPath(n)))!.metadata.resourceVersion).toBe(before3[i]!.metadata.resourceVersion);

    // The operator cannot read Secrets, so it does not see one go while the pods are Ready; it
    // makes them again once the BaseModel is not Ready (here: a new pod on its way), same bytes.
    for (const n of secretNames) expect((await rawRequest(cp.kubeConfig, 'DELETE', secretPath(n))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 6_000)); // resyncs (5 s) of a Ready BaseModel: no Secret yet
    for (const n of secretNames) expect(await get(secretPath(n))).toBeUndefined();
    await patch(bmPath('llama'), { spec: { replicas: 4 } });
    await waitFor('Secrets made again', async () => (await Promise.all(secretNames.map((n) => get(secretPath(n))))).every(Boolean), 60_000, 200);
    for (const [i, n] of secretNames.entries()) {
      const again = (await get(secretPath(n)))!;
      expect(again.metadata.uid).not.toBe(before3[i]!.metadata.uid);
      expect(again.data).toEqual(before3[i]!.data);
    }
    await patch(bmPath('llama'), { spec: { replicas: 3 } });
    await waitReady('llama', 3);
  });

  it('reverts a hand edit of the NetworkPolicy and makes it again when deleted', async () => {
    const path = npPath('llama-graft');
    const want = (await get(path))!.spec;
    await patch(path, { spec: { ingress: [{ ports: [{ protocol: 'TCP', port: 8095 }] }] } });
    await waitFor('NetworkPolicy reverted', async () => JSON.stringify((await get(path))!.spec) === JSON.stringify(want), 30_000, 200);
    const uid = (await get(path))!.metadata.uid;
    expect((await rawRequest(cp.kubeConfig, 'DELETE', path)).status).toBe(200);
    await waitFor('NetworkPolicy made again', async () => {
      const np = await get(path);
      return !!np && np.metadata.uid !== uid;
    }, 30_000, 200);
    expect((await get(path))!.spec).toEqual(want);
  });

  it('with every security default off: plain HTTP, no engine key, root engine, no NetworkPolicy', async () => {
    await create({
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'plain' },
      spec: { model: { source: { uri: 'org/plain' } }, security: { agentTLS: false, engineAPIKey: false, networkPolicy: false, engineNonRoot: false } },
    });
    await waitReady('plain', 1);
    const pod = (await get(depPath('plain')))!.spec.template.spec;
    const engine = pod.containers[0], agent = pod.initContainers[0];
    expect(engine.args).not.toContain('--api-key');
    expect(engine.env).toEqual([{ name: 'VLLM_ALLOW_RUNTIME_LORA_UPDATING', value: 'true' }, { name: 'HF_HOME', value: '/var/cache/graft/hf' }]);
    expect(engine.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'agent', scheme: 'HTTP' });
    expect(agent.env.map((e: Obj) => e.name)).not.toContain('GRAFT_AGENT_TLS_CERT_FILE');
    expect(agent.env.map((e: Obj) => e.name)).not.toContain('GRAFT_AGENT_ENGINE_API_KEY_FILE');
    expect(pod.volumes.map((v: Obj) => v.name)).toEqual(['cache', 'agent-token', 'agent-tmp', 'dshm']);
    expect(await get(secretPath('plain-agent-token'))).toBeDefined();
    expect(await get(secretPath('plain-agent-tls'))).toBeUndefined();
    expect(await get(secretPath('plain-engine-key'))).toBeUndefined();
    expect(await get(npPath('plain-graft'))).toBeUndefined();

    // Turning the NetworkPolicy on makes it; off again removes it.
    await patch(bmPath('plain'), { spec: { security: { networkPolicy: true } } });
    await waitFor('plain-graft made', async () => !!(await get(npPath('plain-graft'))), 30_000, 200);
    await patch(bmPath('plain'), { spec: { security: { networkPolicy: false } } });
    await waitFor('plain-graft removed', async () => !(await get(npPath('plain-graft'))), 30_000, 200);
    await waitReady('plain', 1);
  });

  it('is Stalled with the scheduler\'s message when no node has the GPUs', async () => {
    await create({
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'huge' },
      spec: { model: { source: { uri: 'org/huge' } }, resources: { limits: { 'nvidia.com/gpu': 100 } } },
    });
    await waitFor('huge Stalled', async () => cond(await get(bmPath('huge')), 'Stalled')?.status === 'True', 60_000, 200);
    const bm = (await get(bmPath('huge')))!;
    const stalled = cond(bm, 'Stalled');
    expect(stalled.reason).toBe('Unschedulable');
    expect(stalled.message).toContain('Insufficient nvidia.com/gpu');
    expect(cond(bm, 'Ready')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(stalled.observedGeneration).toBe(bm.metadata.generation);
    await waitFor('a Warning event', async () => (await events('huge')).some((e) => e.type === 'Warning' && e.reason === 'Unschedulable'), 30_000);
  });

  it('is Stalled on image pull errors and crash loops', async () => {
    await create({ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'badimage' }, spec: { model: { source: { uri: 'org/m' } }, engine: { image: 'vllm/vllm-openai:graft-pull-error' } } });
    await create({ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'crashy' }, spec: { model: { source: { uri: 'org/m' } }, engine: { image: 'vllm/vllm-openai:graft-crash' } } });
    await waitFor('badimage Stalled', async () => cond(await get(bmPath('badimage')), 'Stalled')?.reason === 'ImagePullBackOff', 60_000, 200);
    await waitFor('crashy Stalled', async () => cond(await get(bmPath('crashy')), 'Stalled')?.reason === 'CrashLoopBackOff', 60_000, 200);
    expect(cond(await get(bmPath('badimage')), 'Stalled').message).toContain('Back-off pulling image');
  });

  it('shows Ready, the reason and the replicas in kubectl get', () => {
    const out = execFileSync(toolPath('kubectl'), ['--kubeconfig', cp.kubeconfigPath, 'get', 'basemodels'], { encoding: 'utf8' });
    expect(out).toMatch(/llama\s+True\s+Available\s+vllm\s+3\s+3/);
    expect(out).toMatch(/huge\s+False\s+Unschedulable\s+vllm\s+1\s+0/);
  });

  it('writes nothing over 60 s of resyncs with nothing changed', async () => {
    // Settle: every object Ready or Stalled and written once.
    await new Promise((r) => setTimeout(r, 5_000));
    const before = requestsByMethod(await op.metrics());
    await new Promise((r) => setTimeout(r, 60_000));
    const after = requestsByMethod(await op.metrics());
    const delta = Object.fromEntries(Object.keys({ ...before, ...after }).map((m) => [m, (after[m] ?? 0) - (before[m] ?? 0)]));
    console.log(`quiet minute: requests by verb ${JSON.stringify(delta)}`);
    for (const verb of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(delta[verb] ?? 0, `${verb} requests in a quiet minute`).toBe(0);
  }, 120_000);
});
