import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graftCommand, PodRunner, type RunningPod } from '../../src/sandbox/pod-runner.js';
import { rawRequest } from '../../src/sandbox/raw.js';
import { KeyRing } from '../../src/security/keys.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { startOperator, type OperatorProc } from '../support/operator.js';
import { waitFor } from '../support/ports.js';
import { toolPath } from '../support/tools.js';

// The BaseModel's pod template run for real: the pod runner plays the kubelet (Secret volumes as
// files, env from the spec with the downward API, a pvc shared by the pods that mount it) and
// starts the real agent of each pod as its container spec says. What the operator put in the
// template must make a working agent: HTTPS with the certificate the operator derived, the token
// it derived, the engine key file, and on a shared volume an adapter folder per pod.
type Obj = Record<string, any>;
const NS = 'default';
const repoRoot = join(import.meta.dirname, '..', '..');

describe('BaseModel pods under the sandbox kubelet (e2e)', () => {
  let cp: ControlPlane;
  let op: OperatorProc;
  let runner: PodRunner;
  let workDir: string;
  let ring: KeyRing;
  const post = async (path: string, o: Obj) => {
    const r = await rawRequest(cp.kubeConfig, 'POST', path, o);
    expect(r.status, r.text).toBe(201);
  };
  const podsOf = (bm: string) => [...runner.pods.values()].filter((p) => p.baseModel === bm);
  const waitPods = (bm: string, n: number) => waitFor(`${n} running pods of ${bm}`, async () => {
    const pods = podsOf(bm);
    if (pods.length !== n) return false;
    for (const rp of pods) if ((await runner.agentRequest(rp.key, 'GET', '/healthz').catch(() => undefined))?.status !== 200) return false;
    return true;
  }, 90_000, 300);

  beforeAll(async () => {
    cp = await startControlPlane({ e2e: true });
    op = await startOperator(cp.kubeconfigPath, ['--leader-elect=false', '--agent-image', 'ghcr.io/graft-dev/graft:e2e', '--sync-period', '10s']);
    workDir = await mkdtemp(join(tmpdir(), 'graft-bm-pods-'));
    runner = new PodRunner({ kubeConfig: cp.kubeConfig, simBinary: toolPath('llm-d-inference-sim'), graftCommand: graftCommand(repoRoot), workDir, pollMs: 300 });
    runner.start();
    const master = await waitFor('the master key', async () => {
      const r = await rawRequest(cp.kubeConfig, 'GET', `/api/v1/namespaces/${NS}/secrets/graft-operator-key`);
      return r.status === 200;
    }, 30_000).then(() => rawRequest(cp.kubeConfig, 'GET', `/api/v1/namespaces/${NS}/secrets/graft-operator-key`));
    ring = new KeyRing(Buffer.from((master.body as Obj).data['master-key'], 'base64'));
  });
  afterAll(async () => {
    await runner?.stop();
    await op?.stop();
    await cp?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('runs agents over HTTPS with the derived certificate and token, each pod with its own folder on a shared pvc', async () => {
    // A statically bound ReadWriteMany claim (no provisioner in the sandbox).
    await post('/api/v1/persistentvolumes', {
      apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'graft-cache-pv' },
      spec: { capacity: { storage: '10Gi' }, accessModes: ['ReadWriteMany'], storageClassName: 'manual', hostPath: { path: '/var/lib/graft-unused' } },
    });
    await post(`/api/v1/namespaces/${NS}/persistentvolumeclaims`, {
      apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'graft-cache' },
      spec: { accessModes: ['ReadWriteMany'], storageClassName: 'manual', resources: { requests: { storage: '1Gi' } } },
    });
    await post(`/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'pooled' },
      spec: { model: { source: { uri: 'gpt2' } }, replicas: 2, storage: { cache: { medium: 'pvc', claimName: 'graft-cache' } }, adapters: { allowedSources: ['s3://adapters/'] } },
    });
    await waitPods('pooled', 2);
    const ref = { namespace: NS, name: 'pooled' };
    const claimDir = join(workDir, '.volumes', 'pvc', NS, 'graft-cache');
    const dirs = new Set<string>();
    for (const rp of podsOf('pooled')) {
      const podName = rp.key.split('/')[1]!;
      expect(rp.agentUrl).toBe(`https://${rp.ip}:8095`);
      // The certificate the agent serves is the one the key ring derives (the request pinned it).
      expect(rp.agentCertPem).toBe(ring.agentTls(ref).certPem);
      expect(rp.agentServerName).toBe('pooled.default.agent.graft.dev');
      expect((await runner.agentRequest(rp.key, 'GET', '/v1/adapters')).status).toBe(401);
      const listed = await runner.agentRequest(rp.key, 'GET', '/v1/adapters', { headers: { authorization: `Bearer ${ring.agentToken(ref)}` } });
      expect(listed.status, listed.text).toBe(200);
      // A plain-HTTP client gets nowhere: the port speaks TLS only.
      expect(await fetch(`http://${rp.ip}:8095/healthz`).then((r) => r.status, () => 'refused')).not.toBe(200);

      const env = rp.agentEnv;
      expect(env.GRAFT_POD_NAME).toBe(podName);
      expect(env.GRAFT_AGENT_CACHE_DIR).toBe(join(claimDir, 'pods', podName, 'adapters'));
      dirs.add(env.GRAFT_AGENT_CACHE_DIR!);
      expect(await readFile(env.GRAFT_AGENT_TOKEN_FILE!, 'utf8')).toBe(ring.agentToken(ref));
      expect(await readFile(env.GRAFT_AGENT_ENGINE_API_KEY_FILE!, 'utf8')).toBe(ring.engineKey(ref));
      expect(env.GRAFT_AGENT_TLS_CERT_FILE).toBe(join(runner.workDirOf(rp.key), 'var/run/graft/tls/tls.crt'));
      expect(env.GRAFT_AGENT_ALLOWED_SOURCES).toBe('s3://adapters/');
      expect(runner.hostPathOf(rp.key, '/var/cache/graft/hf')).toBe(join(claimDir, 'hf'));
    }
    expect(dirs.size).toBe(2);
    console.log(`per-pod adapter folders on one claim: ${[...dirs].map((d) => d.slice(workDir.length)).join(', ')}`);
  });

  it('does not start a pod whose Secret volume is missing, and starts it once the Secret exists', async () => {
    await post(`/apis/graft.dev/v1alpha1/namespaces/${NS}/basemodels`, {
      apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'plain' },
      spec: {
        model: { source: { uri: 'gpt2' } },
        security: { agentTLS: false, engineAPIKey: false, networkPolicy: false },
        storage: { s3: { endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentialsSecretRef: { name: 'late-creds' } } },
      },
    });
    // The pod is Running in KWOK, but the kubelet could not mount late-creds: no processes.
    await waitFor('the plain pod Running', async () => {
      const r = await rawRequest(cp.kubeConfig, 'GET', `/api/v1/namespaces/${NS}/pods?labelSelector=graft.dev%2Fbasemodel%3Dplain`);
      return ((r.body as Obj).items as Obj[]).some((p) => p.status?.phase === 'Running');
    }, 60_000, 200);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(podsOf('plain')).toHaveLength(0);
    await post(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'late-creds' }, stringData: { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' } });
    await waitPods('plain', 1);
    const rp: RunningPod = podsOf('plain')[0]!;
    expect(rp.agentUrl).toBe(`http://${rp.ip}:8095`);
    expect(rp.agentCertPem).toBeUndefined();
    expect((await fetch(`${rp.agentUrl}/healthz`)).status).toBe(200);
    const creds = rp.agentEnv.GRAFT_S3_CREDENTIALS_DIR!;
    expect(creds).toBe(join(runner.workDirOf(rp.key), 'var/run/graft/s3'));
    expect(await readFile(join(creds, 'AWS_ACCESS_KEY_ID'), 'utf8')).toBe('id');
    // An emptyDir cache is the pod's own folder, with today's layout.
    expect(rp.agentEnv.GRAFT_AGENT_CACHE_DIR).toBe(join(runner.workDirOf(rp.key), 'cache', 'adapters'));
    expect(rp.agentEnv.GRAFT_AGENT_ENGINE_API_KEY_FILE).toBeUndefined();
    expect(existsSync(join(runner.workDirOf(rp.key), 'var/run/graft/tls'))).toBe(false);
  });
});
