import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../../src/sandbox/raw.js';
import { SampleDriver, type GraftKind, type Obj, type Sample, type State } from '../gitops/samples.js';
import { gitopsTool } from '../gitops/tools.js';
import { startSandbox, type Sandbox } from '../support/sandbox.js';

// Flux decides health with kstatus (sigs.k8s.io/cli-utils v0.37.2, status.Compute, run by
// hack/go/kstatus). Every Graft kind is driven through its states in the sandbox and each live
// object is read by kstatus at that moment.
type KStatus = { kind: string; name: string; status: string; message: string };
const cond = (o: Obj, type: string) => (o.status?.conditions as Obj[] | undefined)?.find((c) => c.type === type);

// What kstatus must say in each state. `created` is kstatus's own rule for an object without any
// status (Current): the example Kustomization's healthCheckExprs cover that window (docs/gitops.md).
const EXPECTED: Record<State, string> = {
  created: 'Current', reconciling: 'InProgress', ready: 'Current',
  'generation-behind': 'InProgress', stalled: 'Failed', deleting: 'Terminating',
};

describe('kstatus on live Graft objects', () => {
  let sb: Sandbox;
  let kstatus: string;
  const samples: Sample[] = [];
  const compute = (objs: Obj | Obj[]): KStatus[] => {
    const r = spawnSync(kstatus, [], { input: JSON.stringify(objs), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kstatus: ${r.stderr}`);
    return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as KStatus);
  };
  const sample = (kind: GraftKind, state: State) => {
    const s = samples.find((x) => x.kind === kind && x.state === state);
    if (!s) throw new Error(`no ${kind} ${state} sample`);
    return s.object;
  };

  beforeAll(async () => {
    kstatus = gitopsTool('kstatus');
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'tigrinya/v1/');
    const d = new SampleDriver(sb);
    samples.push(...await d.baseModels(), ...await d.adapters(), ...await d.adapterSets());
  }, 420_000);
  afterAll(async () => { await sb?.stop(); });

  for (const kind of ['BaseModel', 'Adapter', 'AdapterSet'] as const) {
    it(`${kind}: InProgress, Current, Failed and Terminating exactly in their states`, () => {
      const mine = samples.filter((s) => s.kind === kind);
      // BaseModel and Adapter reach every state; the AdapterSet controller may not reach all in time.
      if (kind !== 'AdapterSet') expect(mine.map((s) => s.state).sort()).toEqual(Object.keys(EXPECTED).sort());
      for (const s of mine) {
        const [got] = compute(s.object);
        expect(got.status, `${kind} ${s.state} (${s.how}): ${got.message}`).toBe(EXPECTED[s.state]);
      }
    });
  }

  it('reports the Stalled message as the failure and the Reconciling message as the progress', () => {
    for (const kind of ['BaseModel', 'Adapter'] as const) {
      const stalled = sample(kind, 'stalled');
      expect(compute(stalled)[0].message).toBe(cond(stalled, 'Stalled')!.message);
      const reconciling = sample(kind, 'reconciling');
      expect(compute(reconciling)[0].message).toBe(cond(reconciling, 'Reconciling')!.message);
      expect(compute(sample(kind, 'generation-behind'))[0].message).toMatch(new RegExp(`${kind} generation is 2, but latest observed generation is 1`));
    }
  });

  it('reads the objects still there, as listed now: Current when Ready, Failed when Stalled', async () => {
    const d = new SampleDriver(sb);
    const bm = await d.get('BaseModel', 'gpt2');
    expect(cond(bm, 'Ready')?.status).toBe('True');
    expect(compute(bm)[0].status).toBe('Current');
    // A fresh stalled Adapter, read as a List the way a poller lists a namespace.
    await d.create('Adapter', { apiVersion: 'graft.dev/v1alpha1', kind: 'Adapter', metadata: { name: 'gone' }, spec: { baseModel: 'gpt2', source: { uri: 's3://adapters/gone/' } } });
    await d.untilCondition('Adapter', 'gone', 'Stalled');
    const list = (await rawRequest(sb.cp.kubeConfig, 'GET', '/apis/graft.dev/v1alpha1/namespaces/default/adapters')).body as Obj;
    const byName = new Map(compute(list).map((r) => [r.name, r.status]));
    expect(byName.get('gone')).toBe('Failed');
  });
});
