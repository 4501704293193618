import { createHash, X509Certificate, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BaseModel } from '../../src/api/basemodel.js';
import { desiredService } from '../../src/controllers/basemodel/children.js';
import { desiredDeployment } from '../../src/controllers/basemodel/deployment.js';
import { adapterCacheDir, baseWeightsDir, engineArgs } from '../../src/controllers/basemodel/engine.js';
import { desiredNetworkPolicy } from '../../src/controllers/basemodel/network-policy.js';
import { desiredSecrets } from '../../src/controllers/basemodel/secrets.js';
import { agentServerName, KeyRing } from '../../src/security/keys.js';

type Obj = Record<string, any>;
const bm = (spec: Obj, name = 'm') => BaseModel.parse({
  apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name, namespace: 'team-a', uid: 'uid-1', generation: 1 },
  spec: { model: { source: { uri: 'org/model' } }, ...spec },
});
const OFF = { agentTLS: false, engineAPIKey: false, networkPolicy: false, engineNonRoot: false };
const podOf = (b: BaseModel) => desiredDeployment(b, { agentImage: 'graft:test' }).spec!.template.spec as Obj;
const agentOf = (b: BaseModel) => podOf(b).initContainers[0] as Obj;
const engineOf = (b: BaseModel) => podOf(b).containers[0] as Obj;
const envMap = (c: Obj) => Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('BaseModel pod template: security defaults', () => {
  it('agent TLS: the Secret mounted, the cert and key files, HTTPS probes; off: none of it', () => {
    const on = agentOf(bm({}));
    expect(on.volumeMounts).toContainEqual({ name: 'agent-tls', mountPath: '/var/run/graft/tls', readOnly: true });
    expect(envMap(on)).toMatchObject({ GRAFT_AGENT_TLS_CERT_FILE: '/var/run/graft/tls/tls.crt', GRAFT_AGENT_TLS_KEY_FILE: '/var/run/graft/tls/tls.key' });
    expect(on.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'agent', scheme: 'HTTPS' });
    expect(on.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'agent', scheme: 'HTTPS' });
    expect(podOf(bm({})).volumes).toContainEqual({ name: 'agent-tls', secret: { secretName: 'm-agent-tls', defaultMode: 0o440 } });

    const off = agentOf(bm({ security: OFF }));
    expect(off.volumeMounts.map((m: Obj) => m.name)).not.toContain('agent-tls');
    expect(envMap(off).GRAFT_AGENT_TLS_CERT_FILE).toBeUndefined();
    expect(off.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'agent' });
    expect(podOf(bm({ security: OFF })).volumes.map((v: Obj) => v.name)).not.toContain('agent-tls');
  });

  it('engine API key: --api-key from the Secret for vLLM and SGLang, the agent reads the file; off: none', () => {
    for (const type of ['vllm', 'sglang'] as const) {
      const engine = engineOf(bm({ engine: { type, args: ['--extra'] } }));
      expect(engine.args.slice(-3)).toEqual(['--api-key', '$(GRAFT_ENGINE_API_KEY)', '--extra']);
      expect(engine.env).toContainEqual({ name: 'GRAFT_ENGINE_API_KEY', valueFrom: { secretKeyRef: { name: 'm-engine-key', key: 'api-key' } } });
      // The probes stay keyless: /health is outside both engines' key check.
      expect(engine.readinessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
      const agent = agentOf(bm({ engine: { type } }));
      expect(agent.volumeMounts).toContainEqual({ name: 'engine-key', mountPath: '/var/run/graft/engine-key', readOnly: true });
      expect(envMap(agent).GRAFT_AGENT_ENGINE_API_KEY_FILE).toBe('/var/run/graft/engine-key/api-key');
      // Only the agent mounts the key; the engine reads it from its env.
      expect(engine.volumeMounts.map((m: Obj) => m.name)).not.toContain('engine-key');
    }
    const off = bm({ security: OFF });
    expect(engineOf(off).args).not.toContain('--api-key');
    expect(engineOf(off).env.map((e: Obj) => e.name)).not.toContain('GRAFT_ENGINE_API_KEY');
    expect(envMap(agentOf(off)).GRAFT_AGENT_ENGINE_API_KEY_FILE).toBeUndefined();
    expect(podOf(off).volumes.map((v: Obj) => v.name)).not.toContain('engine-key');
  });

  it('engine as non-root with no capabilities; opting out keeps the rest of restricted', () => {
    const b = bm({});
    expect(engineOf(b).securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532 });
    expect(envMap(engineOf(b))).toMatchObject({ HOME: '/home/graft', USER: 'graft' });
    expect(engineOf(b).volumeMounts).toContainEqual({ name: 'engine-home', mountPath: '/home/graft' });
    expect(podOf(b).securityContext).toEqual({ fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
    expect(engineOf(bm({ engine: { runAsUser: 1000 } })).securityContext.runAsUser).toBe(1000);
    const root = bm({ security: { engineNonRoot: false } });
    expect(engineOf(root).securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(envMap(engineOf(root)).HOME).toBeUndefined();
    expect(podOf(root).volumes.map((v: Obj) => v.name)).not.toContain('engine-home');
    // The user's env still wins over Graft's.
    expect(envMap(engineOf(bm({ engine: { env: [{ name: 'HOME', value: '/data' }] } }))).HOME).toBe('/data');
  });

  it('allowed sources reach the agent, comma-separated; unset: no variable', () => {
    expect(envMap(agentOf(bm({ adapters: { allowedSources: ['s3://bkt-a/', 's3://bkt-b/team/'] } }))).GRAFT_AGENT_ALLOWED_SOURCES).toBe('s3://bkt-a/,s3://bkt-b/team/');
    expect(envMap(agentOf(bm({}))).GRAFT_AGENT_ALLOWED_SOURCES).toBeUndefined();
  });

  it('the Service publishes only the engine port', () => {
    expect(desiredService(bm({ engine: { port: 9000 } })).spec!.ports).toEqual([{ name: 'http', port: 9000, targetPort: 'http', protocol: 'TCP' }]);
  });
});

describe('BaseModel caches', () => {
  it('per-pod adapter folders on shared volumes, the emptyDir layout unchanged', () => {
    const pvc = bm({ storage: { cache: { medium: 'pvc', claimName: 'c' } } });
    expect(adapterCacheDir(pvc.spec)).toBe('/var/cache/graft/pods/$(GRAFT_POD_NAME)/adapters');
    const env = agentOf(pvc).env as Obj[];
    // GRAFT_POD_NAME first: the kubelet expands only variables defined before the one using them.
    expect(env[0]).toEqual({ name: 'GRAFT_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(envMap(agentOf(pvc)).GRAFT_AGENT_CACHE_DIR).toBe('/var/cache/graft/pods/$(GRAFT_POD_NAME)/adapters');
    const host = bm({ storage: { cache: { medium: 'hostPath', path: '/mnt/graft' } } });
    expect(envMap(agentOf(host)).GRAFT_AGENT_CACHE_DIR).toBe('/var/cache/graft/pods/$(GRAFT_POD_NAME)/adapters');
    expect(envMap(agentOf(bm({}))).GRAFT_AGENT_CACHE_DIR).toBe('/var/cache/graft/adapters');
  });

  it('base weights in a folder keyed by the source URI, for stage-base and the engine alike', () => {
    const uri = 's3://models/qwen/';
    const dir = `/var/cache/graft/base/${createHash('sha256').update(uri).digest('hex').slice(0, 16)}/model`;
    expect(baseWeightsDir(uri)).toBe(dir);
    expect(baseWeightsDir('s3://models/qwen-v2/')).not.toBe(dir);
    for (const type of ['vllm', 'sglang'] as const) {
      const b = bm({ model: { source: { uri } }, engine: { type } });
      const args = engineArgs(b.spec, 'm');
      expect(args[args.indexOf(type === 'vllm' ? '--model' : '--model-path') + 1]).toBe(dir);
      const stage = podOf(b).initContainers[1] as Obj;
      expect(stage.args).toEqual(['agent', 'stage-base', '--source', uri, '--dest', dir]);
    }
  });
});

describe('BaseModel Secrets', () => {
  const ring = new KeyRing(Buffer.alloc(32, 7));
  it('hold what the key ring derives, with the owner and Graft\'s labels', () => {
    const b = bm({});
    const secrets = desiredSecrets(b, ring);
    const byName = Object.fromEntries(secrets.map((s) => [s.metadata!.name!, s]));
    const ref = { namespace: 'team-a', name: 'm' };
    const dec = (s: Obj, k: string) => Buffer.from(s.data[k], 'base64').toString();
    expect(Object.keys(byName).sort()).toEqual(['m-agent-tls', 'm-agent-token', 'm-engine-key']);
    expect(dec(byName['m-agent-token']!, 'token')).toBe(ring.agentToken(ref));
    expect(dec(byName['m-engine-key']!, 'api-key')).toBe(ring.engineKey(ref));
    const tls = byName['m-agent-tls']!;
    expect(tls.type).toBe('kubernetes.io/tls');
    expect(dec(tls, 'tls.crt')).toBe(ring.agentTls(ref).certPem);
    expect(dec(tls, 'tls.key')).toBe(ring.agentTls(ref).keyPem);
    const cert = new X509Certificate(dec(tls, 'tls.crt'));
    expect(cert.checkHost(agentServerName(ref))).toBe(agentServerName(ref));
    expect(cert.publicKey.export({ format: 'der', type: 'spki' })).toEqual(createPublicKey(dec(tls, 'tls.key')).export({ format: 'der', type: 'spki' }));
    for (const s of secrets) {
      expect(s.metadata!.namespace).toBe('team-a');
      expect(s.metadata!.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'graft', 'graft.dev/basemodel': 'm' });
      expect(s.metadata!.ownerReferences).toEqual([{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'm', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    }
    // The same bytes every time; another BaseModel gets other bytes.
    expect(desiredSecrets(b, ring)).toEqual(secrets);
    expect(dec(desiredSecrets(bm({}, 'n'), ring)[0]!, 'token')).not.toBe(ring.agentToken(ref));
  });
  it('only the token when TLS and the engine key are off', () => {
    expect(desiredSecrets(bm({ security: OFF }), ring).map((s) => s.metadata!.name)).toEqual(['m-agent-token']);
  });
});

describe('BaseModel NetworkPolicy', () => {
  it('admits the operator\'s pods to the agent port and anyone to the engine port', () => {
    const np = desiredNetworkPolicy(bm({ engine: { port: 9000 } }), { namespace: 'graft-system', podLabels: { 'app.kubernetes.io/name': 'graft' } }) as Obj;
    expect(np.metadata.name).toBe('m-graft');
    expect(np.spec).toEqual({
      podSelector: { matchLabels: { 'graft.dev/basemodel': 'm' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'graft-system' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'graft' } } }],
          ports: [{ protocol: 'TCP', port: 8095 }],
        },
        { ports: [{ protocol: 'TCP', port: 9000 }] },
      ],
    });
  });
});
