import { z } from 'zod';
import { AdapterReplicas, AdapterSource } from './adapter.js';
import { cel, conditions, dnsLabel, objectOf, s3Uri } from './common.js';

export const STRATEGIES = ['Merge', 'Expand'] as const;
export const MERGE_METHODS = ['ema', 'linear', 'cat', 'svd', 'ties', 'dare'] as const;
export const NEEDS_RANK = ['svd', 'ties', 'dare'] as const;
export const NEEDS_DENSITY = ['ties', 'dare'] as const;
export const DECISION_ACTIONS = ['NewModule', 'MergedInto', 'Rejected', 'BudgetExhausted'] as const;

export const Task = z.object({
  name: dnsLabel.describe('unique task name'),
  source: AdapterSource,
  shift: z.object({
    score: z.number().min(0).describe('distribution-shift score from the training or evaluation job (SEMA: min over modules of mean |z|)'),
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
  density: z.number().gt(0).max(1).optional().describe('fraction of entries kept; required for ties and dare'),
  majoritySign: z.enum(['total', 'frequency']).default('total').describe('ties: how the sign of each entry is elected'),
  seed: z.number().int().min(0).default(0).describe('dare: seed of the deterministic drop mask'),
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
  merge: MergeParams.default({ method: 'ema', alpha: 0.1, majoritySign: 'total', seed: 0 }),
  expand: z.object({
    threshold: z.number().gt(0).default(2.0).describe('a task becomes a new module when its shift score is above this for every module'),
    maxModules: z.number().int().min(1).max(256).optional().describe('cap on the pool of modules'),
  }).default({ threshold: 2.0 }),
  output: z.object({
    uri: s3Uri('spec.output.uri').describe('s3:// prefix where produced adapters are written'),
  }),
  template: z.object({
    replicas: AdapterReplicas,
    priority: z.number().int().min(-1000000).max(1000000).default(0),
    labels: z.record(z.string(), z.string()).optional(),
  }).default({ replicas: 1, priority: 0 }).describe('fields of the Adapters this set creates'),
});
export type AdapterSetSpec = z.infer<typeof AdapterSetSpec>;

export const Module = z.object({
  name: z.string(),
  tasks: z.array(z.string()),
  digest: z.string().optional(),
  uri: z.string().optional(),
});

export const Decision = z.object({
  task: z.string(),
  action: z.enum(DECISION_ACTIONS),
  module: z.string().optional(),
  reason: z.string().max(4096),
  time: z.string(),
});

export const AdapterSetStatus = z.object({
  observedGeneration: z.number().int().optional(),
  modules: z.array(Module).max(256).optional(),
  decisions: z.array(Decision).max(256).optional(),
  conditions,
});
export type AdapterSetStatus = z.infer<typeof AdapterSetStatus>;

export const AdapterSet = objectOf('AdapterSet', AdapterSetSpec, AdapterSetStatus);
export type AdapterSet = z.infer<typeof AdapterSet>;
