import { rawRequest } from '../../src/sandbox/raw.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { gpt2BaseModel, type Sandbox } from '../support/sandbox.js';

// Drives live Graft objects in a sandbox into each state a GitOps tool must tell apart, and hands
// back each object exactly as the API server returned it at that moment. Used by
// hack/gitops-samples.ts (which saves them as Argo CD health test data) and by the kstatus test
// (which checks each one live). Expectations live with the tests, not here.
export type Obj = Record<string, any>;
export type GraftKind = 'BaseModel' | 'Adapter' | 'AdapterSet';
export type State = 'created' | 'reconciling' | 'ready' | 'generation-behind' | 'stalled' | 'deleting';
export type Sample = { kind: GraftKind; state: State; how: string; object: Obj };

const NS = 'default';
const plural: Record<GraftKind, string> = { BaseModel: 'basemodels', Adapter: 'adapters', AdapterSet: 'adaptersets' };
const path = (kind: GraftKind, name = '') => `/apis/graft.dev/v1alpha1/namespaces/${NS}/${plural[kind]}${name ? `/${name}` : ''}`;
const cond = (o: Obj | undefined, type: string) => (o?.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);
// The finalizer that holds an object in deletion while its sample is taken (removed right after).
const HOLD = 'gitops.graft.dev/hold-for-sample';

export class SampleDriver {
  constructor(private readonly sb: Sandbox, private readonly log: (msg: string) => void = () => {}) {}

  private async req(method: string, p: string, body?: unknown, type?: string): Promise<Obj> {
    const r = await rawRequest(this.sb.cp.kubeConfig, method, p, body, type);
    if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${r.text}`);
    return r.body as Obj;
  }

  get(kind: GraftKind, name: string): Promise<Obj> { return this.req('GET', path(kind, name)); }

  /** The create response: the object before any controller has seen it (status is never set on create). */
  create(kind: GraftKind, obj: Obj): Promise<Obj> { return this.req('POST', path(kind), obj); }

  /** Polls until `ok` holds for the live object with its status written for the current generation. */
  async until(kind: GraftKind, name: string, what: string, ok: (o: Obj) => boolean, timeoutMs = 90_000, everyMs = 100): Promise<Obj> {
    let last: Obj | undefined;
    try {
      await waitFor(`${kind} ${name} ${what}`, async () => {
        last = await this.get(kind, name);
        return last.status?.observedGeneration === last.metadata.generation && ok(last);
      }, timeoutMs, everyMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen: generation ${last?.metadata?.generation}, status ${JSON.stringify(last?.status)}`);
    }
    return last!;
  }

  untilCondition(kind: GraftKind, name: string, type: string, timeoutMs?: number, everyMs?: number): Promise<Obj> {
    return this.until(kind, name, `${type}=True`, (o) => cond(o, type)?.status === 'True', timeoutMs, everyMs);
  }

  /** The PATCH response of a spec change: generation moved on, status still the old one. */
  patchSpec(kind: GraftKind, name: string, spec: Obj): Promise<Obj> {
    return this.req('PATCH', path(kind, name), { spec }, 'application/merge-patch+json');
  }

  /**
   * The DELETE response of an object that still has finalizers (Graft's own, or a hold added for
   * the sample and taken off right after).
   */
  async deleting(kind: GraftKind, name: string, hold: boolean): Promise<Obj> {
    if (hold) {
      const o = await this.get(kind, name);
      await this.req('PATCH', path(kind, name), { metadata: { finalizers: [...(o.metadata.finalizers ?? []), HOLD], resourceVersion: o.metadata.resourceVersion } }, 'application/merge-patch+json');
    }
    const out = await this.req('DELETE', path(kind, name));
    if (hold) {
      // Graft's own finalizers may have gone meanwhile: re-read and drop only the hold.
      for (let i = 0; i < 5; i++) {
        const o = await this.get(kind, name);
        const r = await rawRequest(this.sb.cp.kubeConfig, 'PATCH', path(kind, name),
          { metadata: { finalizers: (o.metadata.finalizers ?? []).filter((f: string) => f !== HOLD), resourceVersion: o.metadata.resourceVersion } },
          'application/merge-patch+json');
        if (r.status === 200 || r.status === 404) break;
      }
    }
    return out;
  }

  /** Removes an object and waits until it is gone. */
  async remove(kind: GraftKind, name: string): Promise<void> {
    await rawRequest(this.sb.cp.kubeConfig, 'DELETE', path(kind, name));
    await waitFor(`${kind} ${name} gone`, async () => (await rawRequest(this.sb.cp.kubeConfig, 'GET', path(kind, name))).status === 404, 60_000, 200);
  }

  // --- the scenarios, one kind each -------------------------------------------------------------

  async baseModels(): Promise<Sample[]> {
    const out: Sample[] = [];
    const s = (state: State, how: string, object: Obj) => { out.push({ kind: 'BaseModel', state, how, object }); this.log(`BaseModel ${state}`); };
    const bm = gpt2BaseModel('gpt2', this.sb.gw, { replicas: 1 });
    s('created', 'the create response of a gpt2 BaseModel', await this.create('BaseModel', bm));
    s('reconciling', 'the gpt2 BaseModel while its serving pod starts', await this.untilCondition('BaseModel', 'gpt2', 'Reconciling', 60_000, 50));
    s('ready', 'the gpt2 BaseModel once its pod serves', await this.untilCondition('BaseModel', 'gpt2', 'Ready'));
    s('generation-behind', 'the PATCH response of a spec change (adapters.maxPerPod 8 -> 6)', await this.patchSpec('BaseModel', 'gpt2', { adapters: { maxPerPod: 6 } }));
    await this.untilCondition('BaseModel', 'gpt2', 'Ready');
    const big = gpt2BaseModel('gpt2-99-gpus', this.sb.gw, { replicas: 1, resources: { limits: { 'nvidia.com/gpu': 99 } } });
    await this.create('BaseModel', big);
    s('stalled', 'a BaseModel asking for 99 GPUs per pod, more than any node has', await this.untilCondition('BaseModel', 'gpt2-99-gpus', 'Stalled'));
    await this.remove('BaseModel', 'gpt2-99-gpus');
    const doomed = gpt2BaseModel('gpt2-doomed', this.sb.gw, { replicas: 0 });
    await this.create('BaseModel', doomed);
    await this.untilCondition('BaseModel', 'gpt2-doomed', 'Ready');
    s('deleting', 'the DELETE response of a BaseModel held by a finalizer', await this.deleting('BaseModel', 'gpt2-doomed', true));
    return out;
  }

  /** Needs the gpt2 BaseModel Ready (baseModels() leaves it so) and the tigrinya fixture uploaded. */
  async adapters(): Promise<Sample[]> {
    const out: Sample[] = [];
    const s = (state: State, how: string, object: Obj) => { out.push({ kind: 'Adapter', state, how, object }); this.log(`Adapter ${state}`); };
    const ad = (name: string, baseModel: string, uri: string) => ({ apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name }, spec: { baseModel, source: { uri } } });
    s('created', 'the create response of an Adapter', await this.create('Adapter', ad('tigrinya', 'gpt2', 's3://adapters/tigrinya/v1/')));
    s('ready', 'the Adapter once loaded on its pod', await this.untilCondition('Adapter', 'tigrinya', 'Ready'));
    s('generation-behind', 'the PATCH response of a spec change (priority 0 -> 5)', await this.patchSpec('Adapter', 'tigrinya', { priority: 5 }));
    await this.untilCondition('Adapter', 'tigrinya', 'Ready');
    await this.create('Adapter', ad('early', 'gpt2-later', 's3://adapters/tigrinya/v1/'));
    s('reconciling', 'an Adapter applied before its BaseModel (WaitingForBaseModel)', await this.untilCondition('Adapter', 'early', 'Reconciling'));
    await this.remove('Adapter', 'early');
    await this.create('Adapter', ad('missing', 'gpt2', 's3://adapters/nothing-here/'));
    s('stalled', 'an Adapter whose source prefix holds nothing', await this.untilCondition('Adapter', 'missing', 'Stalled'));
    await this.remove('Adapter', 'missing');
    s('deleting', 'the DELETE response of a loaded Adapter (Graft\'s unload finalizer)', await this.deleting('Adapter', 'tigrinya', false));
    await waitFor('tigrinya gone', async () => (await rawRequest(this.sb.cp.kubeConfig, 'GET', path('Adapter', 'tigrinya'))).status === 404, 60_000, 200);
    return out;
  }

  /** Needs the gpt2 BaseModel. States the AdapterSet controller does not reach in time are left out. */
  async adapterSets(): Promise<Sample[]> {
    const out: Sample[] = [];
    const s = (state: State, how: string, object: Obj) => { out.push({ kind: 'AdapterSet', state, how, object }); this.log(`AdapterSet ${state}`); };
    const set = (name: string, baseModel: string, tasks: Obj[] = []) => ({
      apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name },
      spec: { baseModel, tasks, output: { uri: `s3://adapters/sets/${name}/` } },
    });
    s('created', 'the create response of an AdapterSet', await this.create('AdapterSet', set('empty', 'gpt2')));
    const attempt = async (state: State, how: string, get: () => Promise<Obj>) => {
      try { s(state, how, await get()); } catch (err) { this.log(`AdapterSet ${state}: not reached (${(err as Error).message})`); }
    };
    await attempt('ready', 'an AdapterSet with no tasks yet', () => this.untilCondition('AdapterSet', 'empty', 'Ready', 30_000));
    if (out.some((x) => x.state === 'ready')) {
      await attempt('generation-behind', 'the PATCH response of a spec change (template.priority 0 -> 5)', () => this.patchSpec('AdapterSet', 'empty', { template: { priority: 5 } }));
    }
    await this.create('AdapterSet', set('merging', 'gpt2', [{ name: 't1', source: { uri: 's3://adapters/tigrinya/v1/' } }]));
    await attempt('reconciling', 'an AdapterSet running the merge step of its first task', () => this.untilCondition('AdapterSet', 'merging', 'Reconciling', 30_000, 50));
    await this.create('AdapterSet', set('orphan', 'no-such-model'));
    await attempt('stalled', 'an AdapterSet whose BaseModel does not exist', () => this.untilCondition('AdapterSet', 'orphan', 'Stalled', 30_000));
    s('deleting', 'the DELETE response of an AdapterSet held by a finalizer', await this.deleting('AdapterSet', 'empty', true));
    for (const n of ['merging', 'orphan']) await this.remove('AdapterSet', n);
    return out;
  }
}
