import { z } from 'zod';
import { AdapterReplicas, AdapterSource } from './adapter.js';
import { cel, conditions, digest, dnsLabel, objectOf, ResourceRequirements, s3Uri } from './common.js';

export const STRATEGIES = ['Merge', 'Expand'] as const;
export const MERGE_METHODS = ['ema', 'linear', 'cat', 'svd', 'ties', 'dare'] as const;
export const NEEDS_RANK = ['svd', 'ties', 'dare'] as const;
export const NEEDS_DENSITY = ['ties', 'dare'] as const;
export const DECISION_ACTIONS = ['NewModule', 'MergedInto', 'Rejected', 'BudgetExhausted'] as const;
// Versions listed per module in status; older ones are counted in olderVersions (pinned ones stay).
export const MAX_LISTED_VERSIONS = 20;

export const Task = z.object({
  name: dnsLabel.describe('unique task name'),
  source: AdapterSource,
  shift: z.object({
    score: z.number().min(0).describe('distribution-shift score from the training or evaluation job (SEMA: min over modules of mean |z|)'),
    closest: dnsLabel.optional().describe('the module the job found closest (merged into when the task is not novel); default: the module with the lowest weight-space novelty'),
  }).optional(),
  weight: z.number().min(0).optional().describe('weight of this task in merges; default 1'),
});
export type Task = z.infer<typeof Task>;

const list = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

export const MergeParams = z.object({
  method: z.enum(MERGE_METHODS).default('ema'),
  alpha: z.number().gt(0).lt(1).default(0.1).describe('ema: weight of the mean of earlier tasks'),
  weights: z.array(z.number()).max(256).optional().describe('one weight per task, in task order'),
  rank: z.number().int().min(1).max(512).optional().describe('rank of the result; required for svd, ties and dare'),
  meanRank: z.number().int().min(1).max(512).optional()
    .describe('ema: the rank at which the running mean of a module\'s earlier tasks is kept (exact while their summed rank fits, svd to this rank beyond; the decision\'s truncationError bounds what that leaves out); default the BaseModel\'s adapters.maxRank'),
  density: z.number().gt(0).max(1).optional().describe('fraction of entries kept; required for ties and dare'),
  majoritySign: z.enum(['total', 'frequency']).default('total').describe('ties: how the sign of each entry is elected'),
  seed: z.number().int().min(0).default(0).describe('dare: seed of the deterministic drop mask'),
  dropExtraTensors: z.boolean().default(true).describe('leave out whole saved tensors (classifier heads) that not every task has; the decision\'s reason names them'),
}).meta(cel(
  { rule: `!(self.method in ${list(NEEDS_RANK)}) || has(self.rank)`, message: 'spec.merge.rank is required for the svd, ties and dare methods', fieldPath: '.rank' },
  { rule: `!(self.method in ${list(NEEDS_DENSITY)}) || has(self.density)`, message: 'spec.merge.density is required for the ties and dare methods', fieldPath: '.density' },
));

export const AdapterSetSpec = z.object({
  baseModel: dnsLabel.max(253).describe('name of the BaseModel in the same namespace').meta(cel(
    { rule: 'self == oldSelf', message: 'spec.baseModel is immutable: create a new AdapterSet instead' },
  )),
  strategy: z.enum(STRATEGIES).default('Merge').describe('Merge: one served module, a new merged version per task (MOS). Expand: a growing pool of modules (SEMA)'),
  tasks: z.array(Task).max(256).default([]).meta({
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
    // indexOf compares whole elements, so this also refuses edits to an accepted task.
    ...cel({ rule: 'oldSelf.all(t, self.indexOf(t) == oldSelf.indexOf(t))',
      message: 'spec.tasks is append-only: accepted tasks cannot be removed, reordered or changed; append new tasks at the end' }),
    description: 'append-only list of task adapters',
  }),
  merge: MergeParams.default({ method: 'ema', alpha: 0.1, majoritySign: 'total', seed: 0, dropExtraTensors: true }),
  expand: z.object({
    threshold: z.number().gt(0).default(2.0).describe('a task becomes a new module when its shift score is above this for every module'),
    noveltyThreshold: z.number().gt(0).lt(1).default(0.5)
      .describe('for tasks without shift.score: a task is novel when its weight-space novelty (0: same column spaces as a module, 1: orthogonal to it) is above this for every module'),
    maxModules: z.number().int().min(1).max(256).optional().describe('cap on the pool of modules'),
  }).default({ threshold: 2.0, noveltyThreshold: 0.5 }),
  output: z.object({
    uri: s3Uri('spec.output.uri').describe('s3:// prefix where produced adapters are written'),
  }),
  pins: z.record(dnsLabel, digest).optional()
    .describe('module name → version digest: serve that version of the module instead of its newest; remove the entry to resume the newest'),
  job: z.object({
    resources: ResourceRequirements.default({ requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } })
      .describe('resources of each merge Job\'s container'),
    activeDeadlineSeconds: z.number().int().min(30).max(604800).default(3600).describe('a merge Job running longer is failed by Kubernetes'),
    backoffLimit: z.number().int().min(0).max(20).default(3).describe('pod retries of one merge Job'),
  }).default({ resources: { requests: { cpu: '1', memory: '2Gi' }, limits: { memory: '8Gi' } }, activeDeadlineSeconds: 3600, backoffLimit: 3 })
    .describe('the Kubernetes Job that runs each merge (graft\'s image)'),
  template: z.object({
    replicas: AdapterReplicas,
    priority: z.number().int().min(-1000000).max(1000000).default(0),
    labels: z.record(z.string(), z.string()).optional(),
  }).default({ replicas: 1, priority: 0 }).describe('fields of the Adapters this set creates'),
});
export type AdapterSetSpec = z.infer<typeof AdapterSetSpec>;

export const Version = z.object({
  digest: z.string().describe('sha256 manifest digest of the version\'s files, as the agent computes it'),
  uri: z.string().describe('where the version lives: under spec.output.uri, or the task\'s own source for a module\'s first version'),
  tasks: z.array(z.string()).max(256).describe('the tasks merged into this version, oldest first'),
  rank: z.number().int().optional(),
  time: z.string(),
});
export type Version = z.infer<typeof Version>;

export const Module = z.object({
  name: z.string(),
  adapter: z.string().optional().describe('the child Adapter that serves this module'),
  tasks: z.array(z.string()).describe('every task merged into this module, oldest first'),
  digest: z.string().optional().describe('the served version\'s digest (the newest, or the pinned one)'),
  uri: z.string().optional().describe('the served version\'s location'),
  pinned: z.boolean().optional(),
  versions: z.array(Version).max(MAX_LISTED_VERSIONS + 16).optional().describe(`every version, oldest first; beyond ${MAX_LISTED_VERSIONS} the oldest unpinned ones are only counted in olderVersions`),
  olderVersions: z.number().int().optional().describe('versions no longer listed (still in S3 under spec.output.uri)'),
});
export type Module = z.infer<typeof Module>;

export const Decision = z.object({
  task: z.string(),
  action: z.enum(DECISION_ACTIONS),
  module: z.string().optional(),
  score: z.number().optional().describe('the score the decision compared: shift.score, or the lowest weight-space novelty'),
  scoreKind: z.enum(['shift', 'novelty']).optional(),
  threshold: z.number().optional(),
  method: z.string().optional().describe('the merge as run, e.g. "ema alpha=0.1 via svd rank=16"'),
  truncationError: z.number().optional().describe('‖ΔW − B\'A\'‖ / ‖ΔW‖ of the version against the merge formula (0 when exact); for ema over a truncated running mean, an upper bound'),
  digest: z.string().optional().describe('the version this task produced'),
  taskDigest: z.string().optional().describe('the task adapter\'s own digest, as read by the Job'),
  job: z.string().optional().describe('the Job that ran the step'),
  reason: z.string().max(4096),
  time: z.string(),
});
export type Decision = z.infer<typeof Decision>;

export const AdapterSetStatus = z.object({
  observedGeneration: z.number().int().optional(),
  baseModelName: z.string().optional().describe('base_model_name_or_path of the accepted tasks; later tasks must match'),
  moduleCount: z.number().int().optional(),
  decidedTasks: z.number().int().optional(),
  modules: z.array(Module).max(256).optional(),
  decisions: z.array(Decision).max(256).optional(),
  conditions,
});
export type AdapterSetStatus = z.infer<typeof AdapterSetStatus>;

export const AdapterSet = objectOf('AdapterSet', AdapterSetSpec, AdapterSetStatus);
export type AdapterSet = z.infer<typeof AdapterSet>;
