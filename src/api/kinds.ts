import type { z } from 'zod';
import { Adapter, AdapterSpec, AdapterStatus } from './adapter.js';
import { AdapterSet, AdapterSetSpec, AdapterSetStatus } from './adapterset.js';
import { BaseModel, BaseModelSpec, BaseModelStatus } from './basemodel.js';
import { GROUP, VERSION } from './common.js';

export type PrinterColumn = { name: string; type: 'string' | 'integer' | 'date' | 'number' | 'boolean'; jsonPath: string; priority?: number; description?: string };

export type KindDef = {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: z.ZodTypeAny;
  status: z.ZodTypeAny;
  object: z.ZodTypeAny;
  columns: PrinterColumn[];
  // The scale subresource (kubectl scale, HPA, KEDA): JSON paths into the object.
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
};

const readyColumns: PrinterColumn[] = [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
];
const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: KindDef[] = [
  {
    kind: 'BaseModel', plural: 'basemodels', singular: 'basemodel', shortNames: ['bm'],
    description: 'A base model served by GPU pods that Graft runs, and onto which it loads LoRA adapters.',
    spec: BaseModelSpec, status: BaseModelStatus, object: BaseModel,
    scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
    columns: [
      ...readyColumns,
      { name: 'Engine', type: 'string', jsonPath: '.spec.engine.type' },
      { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
      { name: 'Available', type: 'integer', jsonPath: '.status.readyReplicas' },
      age,
      { name: 'Model', type: 'string', jsonPath: '.spec.model.source.uri', priority: 1 },
    ],
  },
  {
    kind: 'Adapter', plural: 'adapters', singular: 'adapter', shortNames: ['ad', 'lora'],
    description: 'A LoRA adapter for one BaseModel, staged from S3 and loaded into the engine of some of its pods.',
    spec: AdapterSpec, status: AdapterStatus, object: Adapter,
    columns: [
      ...readyColumns,
      { name: 'BaseModel', type: 'string', jsonPath: '.spec.baseModel' },
      { name: 'Replicas', type: 'string', jsonPath: '.spec.replicas' },
      { name: 'Available', type: 'integer', jsonPath: '.status.readyReplicas' },
      age,
      { name: 'Rank', type: 'integer', jsonPath: '.status.rank', priority: 1 },
      { name: 'Digest', type: 'string', jsonPath: '.status.digest', priority: 1 },
    ],
  },
  {
    kind: 'AdapterSet', plural: 'adaptersets', singular: 'adapterset', shortNames: ['ads'],
    description: 'A continual-learning stream of task adapters for one BaseModel, merged (MOS) or expanded (SEMA) into served Adapters.',
    spec: AdapterSetSpec, status: AdapterSetStatus, object: AdapterSet,
    columns: [
      ...readyColumns,
      { name: 'BaseModel', type: 'string', jsonPath: '.spec.baseModel' },
      { name: 'Strategy', type: 'string', jsonPath: '.spec.strategy' },
      { name: 'Modules', type: 'integer', jsonPath: '.status.moduleCount' },
      { name: 'Tasks', type: 'integer', jsonPath: '.status.decidedTasks' },
      age,
      { name: 'Method', type: 'string', jsonPath: '.spec.merge.method', priority: 1 },
    ],
  },
];

export const crdName = (k: KindDef) => `${k.plural}.${GROUP}`;
export { GROUP, VERSION };
