// The merge Job's step alone, without Kubernetes
// (`source <(hack/tools.sh env) && npx tsx bench/adapterset/steps.ts`): TASKS generated rank-16 adapters of 7B Llama shapes (LAYERS layers) in versitygw, one
// `runStep` after the other as the controller would chain them, on STRATEGY (Merge). Prints each
// step's seconds and where they went (the step's phases), to tell the merge math from S3 reads.
// Environment: TASKS (8), LAYERS (4), STRATEGY (Merge), MAX_MODULES (4, Expand).
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { AdapterSetSpec, type AdapterSetStatus } from '../../src/api/adapterset.js';
import { buildStepRequest } from '../../src/controllers/adapterset/decide.js';
import { runStep } from '../../src/controllers/adapterset/step.js';
import { applyResult, withServing } from '../../src/controllers/adapterset/status.js';
import { emaWeights } from '../../src/merge/methods/ema.js';
import { lowRankNorm2, stackAT, stackB } from '../../src/merge/methods/factors.js';
import type { Factors } from '../../src/merge/methods/types.js';
import { readFactors } from '../../src/merge/novelty.js';
import { startVersityGw } from '../../test/support/versitygw.js';
import { generatedAdapter } from './generate.js';

const TASKS = Number(process.env.TASKS ?? 8);
const LAYERS = Number(process.env.LAYERS ?? 4);
const STRATEGY = (process.env.STRATEGY ?? 'Merge') as 'Merge' | 'Expand';
// The exact ‖F − V‖ / ‖F‖ of each Merge version against the ema formula F over all its tasks,
// computed in factor space (Gram matrices, O((out + in)·R²) per module): how tight the bound is.
const EXACT = process.env.EXACT ? process.env.EXACT === '1' : LAYERS <= 4;
const say = (s: string) => process.stdout.write(`${s}\n`);

async function exactError(taskUris: string[], versionUri: string): Promise<number> {
  const w = emaWeights(taskUris.length, 0.1);
  const tasks = await Promise.all(taskUris.map((u) => readFactors(u, s3)));
  const version = await readFactors(versionUri, s3);
  let diff2 = 0, norm2 = 0;
  for (const [name, v] of version) {
    const fs: Factors[] = tasks.map((t, i) => { const f = t.get(name)!; return { input: i, r: f.r, A: f.A, B: f.B, c: w[i] * 2 }; }); // scale lora_alpha / r = 2
    norm2 += lowRankNorm2(stackB(fs, v.out), stackAT(fs, v.in));
    const all = [...fs, { input: fs.length, r: v.r, A: v.A, B: v.B, c: -1 }]; // the merged version's scale is 1
    diff2 += lowRankNorm2(stackB(all, v.out), stackAT(all, v.in));
  }
  return Math.sqrt(diff2 / norm2);
}

const gw = await startVersityGw({ buckets: ['adapters'] });
const s3 = gw.client();
try {
  for (let i = 0; i < TASKS; i++) {
    for (const [f, body] of generatedAdapter(i, LAYERS)) await s3.send(new PutObjectCommand({ Bucket: 'adapters', Key: `bench/task-${i}/${f}`, Body: body }));
  }
  const spec = AdapterSetSpec.parse({ baseModel: 'llama', strategy: STRATEGY, output: { uri: 's3://adapters/out/' }, expand: { maxModules: Number(process.env.MAX_MODULES ?? 4) },
    tasks: Array.from({ length: TASKS }, (_, i) => ({ name: `task-${i}`, source: { uri: `s3://adapters/bench/task-${i}/` } })) });
  let status: AdapterSetStatus = {};
  for (let i = 0; i < TASKS; i++) {
    const r = await runStep(buildStepRequest('bench', spec, status, i, { maxRank: 16, modelId: 'meta-llama/Llama-2-7b-hf' }), s3);
    status = withServing(applyResult(status, r, { time: `T${i}`, job: `j${i}` }), 'bench', undefined).status;
    const phases = Object.entries(r.phases ?? {}).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ');
    const exact = EXACT && STRATEGY === 'Merge' && r.version
      ? ` exact ${(await exactError(spec.tasks.slice(0, i + 1).map((t) => t.source.uri), r.version.uri)).toExponential(3)}` : '';
    say(`${STRATEGY} step ${i}: ${r.action} ${r.module ?? ''} ${r.seconds!.toFixed(2)} s (${phases}) ${r.method ?? ''}; truncationError ${r.truncationError?.toExponential(3) ?? '-'}${exact}`);
  }
} finally {
  s3.destroy();
  await gw.stop();
}
