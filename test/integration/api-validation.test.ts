import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rawRequest } from '../../src/sandbox/raw.js';
import { startControlPlane, type ControlPlane } from '../support/control-plane.js';
import { toolPath } from '../support/tools.js';

// The API server itself refuses bad Graft objects, with a message that names the field.
type Obj = Record<string, any>;
const clone = <T>(x: T): T => structuredClone(x);
const path = (plural: string, name?: string) => `/apis/graft.dev/v1alpha1/namespaces/default/${plural}${name ? `/${name}` : ''}`;
const PLURAL: Record<string, string> = { BaseModel: 'basemodels', Adapter: 'adapters', AdapterSet: 'adaptersets' };

const baseModel: Obj = {
  apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'bm' },
  spec: { model: { source: { uri: 'meta-llama/Llama-3-8B' } } },
};
const adapter: Obj = {
  apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'ad' },
  spec: { baseModel: 'bm', source: { uri: 's3://adapters/a/' } },
};
const adapterSet: Obj = {
  apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name: 'as' },
  spec: { baseModel: 'bm', tasks: [{ name: 't1', source: { uri: 's3://bucket/t1/' } }], output: { uri: 's3://bucket/out/' } },
};

function edit(base: Obj, f: (o: Obj) => void): Obj { const o = clone(base); f(o); return o; }

// [description, object, substrings the refusal must contain]
const invalid: [string, Obj, string[]][] = [
  ['BaseModel without model', edit(baseModel, (o) => { delete o.spec.model; }), ['spec.model', 'Required']],
  ['BaseModel with an ftp source', edit(baseModel, (o) => { o.spec.model.source.uri = 'ftp://x/y'; }), ['spec.model.source.uri']],
  ['BaseModel with an unknown engine', edit(baseModel, (o) => { o.spec.engine = { type: 'tgi' }; }), ['spec.engine.type', 'Unsupported value']],
  ['BaseModel with port 0', edit(baseModel, (o) => { o.spec.engine = { port: 0 }; }), ['spec.engine.port']],
  ['BaseModel with negative replicas', edit(baseModel, (o) => { o.spec.replicas = -1; }), ['spec.replicas']],
  ['BaseModel with maxRank 24', edit(baseModel, (o) => { o.spec.adapters = { maxRank: 24 }; }), ['spec.adapters.maxRank', 'Unsupported value']],
  ['BaseModel with maxRank 1024', edit(baseModel, (o) => { o.spec.adapters = { maxRank: 1024 }; }), ['spec.adapters.maxRank']],
  ['BaseModel with maxLoaded > maxCpuLoaded', edit(baseModel, (o) => { o.spec.adapters = { maxPerPod: 8, maxLoaded: 6, maxCpuLoaded: 4 }; }), ['spec.adapters.maxLoaded', 'maxCpuLoaded']],
  ['BaseModel with maxCpuLoaded > maxPerPod', edit(baseModel, (o) => { o.spec.adapters = { maxPerPod: 4, maxCpuLoaded: 8 }; }), ['spec.adapters.maxCpuLoaded', 'maxPerPod']],
  ['BaseModel with maxLoaded > maxPerPod', edit(baseModel, (o) => { o.spec.adapters = { maxPerPod: 2, maxLoaded: 3 }; }), ['spec.adapters.maxLoaded', 'maxPerPod']],
  ['BaseModel with maxPerPod 0', edit(baseModel, (o) => { o.spec.adapters = { maxPerPod: 0 }; }), ['spec.adapters.maxPerPod']],
  ['BaseModel pvc cache without claimName', edit(baseModel, (o) => { o.spec.storage = { cache: { medium: 'pvc' } }; }), ['spec.storage.cache.claimName']],
  ['BaseModel hostPath cache without path', edit(baseModel, (o) => { o.spec.storage = { cache: { medium: 'hostPath' } }; }), ['spec.storage.cache.path']],
  ['BaseModel with an unknown cache medium', edit(baseModel, (o) => { o.spec.storage = { cache: { medium: 'tmpfs' } }; }), ['spec.storage.cache.medium']],
  ['BaseModel with a bad S3 endpoint', edit(baseModel, (o) => { o.spec.storage = { s3: { endpoint: 'minio:9000' } }; }), ['spec.storage.s3.endpoint']],
  ['BaseModel with a bad toleration effect', edit(baseModel, (o) => { o.spec.tolerations = [{ key: 'k', effect: 'Sometimes' }]; }), ['spec.tolerations[0].effect']],
  ['Adapter without baseModel', edit(adapter, (o) => { delete o.spec.baseModel; }), ['spec.baseModel', 'Required']],
  ['Adapter without source', edit(adapter, (o) => { delete o.spec.source; }), ['spec.source', 'Required']],
  ['Adapter with an http source', edit(adapter, (o) => { o.spec.source.uri = 'https://example.invalid/a'; }), ['spec.source.uri']],
  ['Adapter with a short digest', edit(adapter, (o) => { o.spec.source.digest = 'sha256:abc'; }), ['spec.source.digest']],
  ['Adapter with an md5 digest', edit(adapter, (o) => { o.spec.source.digest = `md5:${'a'.repeat(64)}`; }), ['spec.source.digest']],
  ['Adapter with replicas 0', edit(adapter, (o) => { o.spec.replicas = 0; }), ['spec.replicas', 'All']],
  ['Adapter with replicas "some"', edit(adapter, (o) => { o.spec.replicas = 'some'; }), ['spec.replicas', 'All']],
  ['Adapter with a servedName that is not a DNS label', edit(adapter, (o) => { o.spec.servedName = '../x'; }), ['spec.servedName']],
  ['Adapter with a baseModel that is not a name', edit(adapter, (o) => { o.spec.baseModel = 'Not_A_Name'; }), ['spec.baseModel']],
  ['AdapterSet with an unknown strategy', edit(adapterSet, (o) => { o.spec.strategy = 'Replace'; }), ['spec.strategy', 'Unsupported value']],
  ['AdapterSet with duplicate task names', edit(adapterSet, (o) => { o.spec.tasks.push(clone(o.spec.tasks[0])); }), ['spec.tasks[1]', 'Duplicate value']],
  ['AdapterSet svd without rank', edit(adapterSet, (o) => { o.spec.merge = { method: 'svd' }; }), ['spec.merge.rank', 'svd']],
  ['AdapterSet ties without density', edit(adapterSet, (o) => { o.spec.merge = { method: 'ties', rank: 8 }; }), ['spec.merge.density', 'ties']],
  ['AdapterSet dare without rank', edit(adapterSet, (o) => { o.spec.merge = { method: 'dare', density: 0.5 }; }), ['spec.merge.rank']],
  ['AdapterSet with an unknown method', edit(adapterSet, (o) => { o.spec.merge = { method: 'avg' }; }), ['spec.merge.method', 'Unsupported value']],
  ['AdapterSet with alpha 1.5', edit(adapterSet, (o) => { o.spec.merge = { alpha: 1.5 }; }), ['spec.merge.alpha']],
  ['AdapterSet with density 0', edit(adapterSet, (o) => { o.spec.merge = { method: 'dare', rank: 8, density: 0 }; }), ['spec.merge.density']],
  ['AdapterSet with an unknown majoritySign', edit(adapterSet, (o) => { o.spec.merge = { majoritySign: 'mean' }; }), ['spec.merge.majoritySign']],
  ['AdapterSet without output', edit(adapterSet, (o) => { delete o.spec.output; }), ['spec.output', 'Required']],
  ['AdapterSet with a non-S3 output', edit(adapterSet, (o) => { o.spec.output.uri = '/tmp/out'; }), ['spec.output.uri']],
  ['AdapterSet task with a non-S3 source', edit(adapterSet, (o) => { o.spec.tasks[0].source.uri = 'gs://b/t1/'; }), ['spec.tasks[0].source.uri']],
  ['AdapterSet task with a negative shift score', edit(adapterSet, (o) => { o.spec.tasks[0].shift = { score: -1 }; }), ['spec.tasks[0].shift.score']],
  ['AdapterSet with expand threshold 0', edit(adapterSet, (o) => { o.spec.expand = { threshold: 0 }; }), ['spec.expand.threshold']],
  ['AdapterSet template with replicas 0', edit(adapterSet, (o) => { o.spec.template = { replicas: 0 }; }), ['spec.template.replicas']],
];

describe('API validation by the real kube-apiserver', () => {
  let cp: ControlPlane;
  beforeAll(async () => { cp = await startControlPlane({ crds: true }); });
  afterAll(async () => { await cp?.stop(); });

  const create = (o: Obj, dryRun = true) =>
    rawRequest(cp.kubeConfig, 'POST', `${path(PLURAL[o.kind])}${dryRun ? '?dryRun=All' : ''}`, o);

  // Each invalid case is one edit of these, so each refusal is for that edit alone.
  it.each([baseModel, adapter, adapterSet])('accepts the unedited $kind', async (o) => {
    const res = await create(o);
    expect(res.status, res.text).toBe(201);
  });

  it('has a table of at least 25 invalid objects', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(25);
  });

  it.each(invalid)('refuses %s', async (_what, obj, expected) => {
    const res = await create(obj);
    expect(res.status, res.text).toBe(422);
    const message = (res.body as { message: string }).message;
    for (const s of expected) expect(message).toContain(s);
  });

  it('accepts every example in manifests/examples and applies the defaults', async () => {
    const dir = join(process.cwd(), 'manifests', 'examples');
    let count = 0;
    for (const f of (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.yaml')).sort()) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
        const o = doc.toJS() as Obj;
        const res = await create(o, false);
        expect(res.status, `${f}: ${res.text}`).toBe(201);
        count++;
      }
    }
    expect(count).toBeGreaterThanOrEqual(10);
    const bm = (await rawRequest(cp.kubeConfig, 'GET', path('basemodels', 'qwen-7b-sglang'))).body as Obj;
    expect(bm.spec.engine.port).toBe(8000);
    expect(bm.spec.resources).toEqual({ limits: { 'nvidia.com/gpu': 1 } });
    expect(bm.spec.storage.s3.forcePathStyle).toBe(false);
    const ad = (await rawRequest(cp.kubeConfig, 'GET', path('adapters', 'sql-writer'))).body as Obj;
    expect(ad.spec.priority).toBe(0);
    const as = (await rawRequest(cp.kubeConfig, 'GET', path('adaptersets', 'support-stream'))).body as Obj;
    expect(as.spec.merge.alpha).toBe(0.1);
    expect(as.spec.expand.threshold).toBe(2);
  });

  it('keeps AdapterSet tasks append-only and baseModel immutable', async () => {
    const o = edit(adapterSet, (x) => {
      x.metadata.name = 'stream';
      x.spec.tasks.push({ name: 't2', source: { uri: 's3://bucket/t2/' } });
    });
    const created = await create(o, false);
    expect(created.status, created.text).toBe(201);
    const put = async (f: (x: Obj) => void) => {
      const cur = (await rawRequest(cp.kubeConfig, 'GET', path('adaptersets', 'stream'))).body as Obj;
      f(cur);
      return rawRequest(cp.kubeConfig, 'PUT', path('adaptersets', 'stream'), cur);
    };
    const removed = await put((x) => { x.spec.tasks.pop(); });
    expect(removed.status).toBe(422);
    expect((removed.body as Obj).message).toContain('spec.tasks is append-only');
    const reordered = await put((x) => { x.spec.tasks.reverse(); });
    expect(reordered.status).toBe(422);
    expect((reordered.body as Obj).message).toContain('spec.tasks is append-only');
    const changed = await put((x) => { x.spec.tasks[0].source.uri = 's3://bucket/other/'; });
    expect(changed.status).toBe(422);
    const appended = await put((x) => { x.spec.tasks.push({ name: 't3', source: { uri: 's3://bucket/t3/' } }); });
    expect(appended.status, appended.text).toBe(200);
    const moved = await put((x) => { x.spec.baseModel = 'other'; });
    expect(moved.status).toBe(422);
    expect((moved.body as Obj).message).toContain('spec.baseModel is immutable');
  });

  it('serves the kinds to kubectl with their printer columns and short names', () => {
    const kubectl = toolPath('kubectl');
    const out = execFileSync(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', 'basemodels,adapters,adaptersets'], { encoding: 'utf8' });
    expect(out).toMatch(/NAME\s+READY\s+REASON\s+ENGINE\s+REPLICAS\s+AVAILABLE\s+AGE/);
    expect(out).toMatch(/basemodel\.graft\.dev\/llama-3-8b\s+vllm\s+3/);
    expect(out).toMatch(/NAME\s+READY\s+REASON\s+BASEMODEL\s+REPLICAS\s+AVAILABLE\s+AGE/);
    expect(out).toMatch(/adapter\.graft\.dev\/support-bot\s+llama-3-8b\s+All/);
    expect(out).toMatch(/NAME\s+READY\s+REASON\s+BASEMODEL\s+STRATEGY\s+MODULES\s+TASKS\s+AGE/);
    const short = execFileSync(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', 'graft'], { encoding: 'utf8' });
    expect(short).toContain('adapterset.graft.dev/support-stream');
    const bm = execFileSync(kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', 'bm', 'llama-3-8b', '-o', 'wide'], { encoding: 'utf8' });
    expect(bm).toContain('MODEL');
  });
});
