// What the controller hands a merge Job and what the Job hands back. The request travels as the
// Job's argument (visible in `kubectl get job -o yaml`); the result comes back as the pod's
// termination message (/dev/termination-log, at most 4096 bytes), so the operator learns it from
// the Kubernetes API and never needs the S3 credentials the Job uses.
import { z } from 'zod';
import { DECISION_ACTIONS, MERGE_METHODS, STRATEGIES } from '../../api/adapterset.js';

export const StepInput = z.object({
  task: z.string(),
  uri: z.string(),
  digest: z.string().optional(), // the task adapter's own manifest digest, once known
  weight: z.number(),
});
export type StepInput = z.infer<typeof StepInput>;

export const StepModule = z.object({
  name: z.string(),
  inputs: z.array(StepInput), // the tasks merged into it so far, oldest first
  served: z.object({ uri: z.string(), digest: z.string() }), // compared against for novelty
});
export type StepModule = z.infer<typeof StepModule>;

export const StepRequest = z.object({
  v: z.literal(1),
  set: z.string(),
  strategy: z.enum(STRATEGIES),
  task: StepInput.extend({ shiftScore: z.number().optional(), closest: z.string().optional() }),
  output: z.string(), // spec.output.uri
  maxRank: z.number().int().positive(),
  expectBase: z.string().optional(), // base_model_name_or_path a task must have (when it has one)
  merge: z.object({
    method: z.enum(MERGE_METHODS),
    alpha: z.number(),
    rank: z.number().int().optional(),
    meanRank: z.number().int().positive().optional(), // ema: the running mean's rank; default maxRank
    density: z.number().optional(),
    majoritySign: z.enum(['total', 'frequency']),
    seed: z.number().int(),
    dropExtraTensors: z.boolean(),
  }),
  expand: z.object({ threshold: z.number(), noveltyThreshold: z.number(), maxModules: z.number().int().optional() }),
  modules: z.array(StepModule),
  newModule: z.string(), // the name a new module gets
});
export type StepRequest = z.infer<typeof StepRequest>;

export const StepResult = z.object({
  v: z.literal(1),
  task: z.string(),
  action: z.enum(DECISION_ACTIONS),
  module: z.string().optional(),
  taskDigest: z.string().optional(),
  base: z.string().optional(), // the task's base_model_name_or_path
  score: z.number().optional(),
  scoreKind: z.enum(['shift', 'novelty']).optional(),
  threshold: z.number().optional(),
  version: z.object({ uri: z.string(), digest: z.string(), rank: z.number().int() }).optional(),
  method: z.string().optional(),
  truncationError: z.number().optional(),
  reused: z.boolean().optional(), // the committed result of an earlier run was found
  seconds: z.number().optional(),
  phases: z.record(z.string(), z.number()).optional(), // seconds per phase of the step
  reason: z.string(),
});
export type StepResult = z.infer<typeof StepResult>;

// The termination message limit of the kubelet.
export const TERMINATION_MESSAGE_MAX = 4096;

export function encodeResult(r: StepResult): string {
  let text = JSON.stringify(r);
  if (Buffer.byteLength(text) > TERMINATION_MESSAGE_MAX) {
    text = JSON.stringify({ ...r, reason: `${r.reason.slice(0, Math.max(0, r.reason.length - (Buffer.byteLength(text) - TERMINATION_MESSAGE_MAX) - 8))}...` });
  }
  return text;
}

// The result in a termination message, or an error that says what is wrong with it.
export function decodeResult(message: string | undefined): StepResult {
  if (!message) throw new Error('the merge Job\'s pod left no termination message');
  let parsed: unknown;
  try { parsed = JSON.parse(message); } catch { throw new Error(`the merge Job's termination message is not JSON: ${message.slice(0, 200)}`); }
  const r = StepResult.safeParse(parsed);
  if (!r.success) throw new Error(`the merge Job's termination message is not a step result: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}
