import { z } from 'zod';
import { cel, conditions, digest, dnsLabel, INT_OR_STRING, objectOf, s3Uri } from './common.js';

export const PLACEMENT_STATES = ['Pending', 'Staging', 'Loading', 'Loaded', 'Unloading', 'Failed'] as const;

export const AdapterSource = z.object({
  uri: s3Uri('source.uri').describe('s3://bucket/prefix/ holding adapter_config.json and adapter_model.safetensors'),
  digest: digest.optional().describe('expected digest (sha256 over the manifest of files); a mismatch is never loaded'),
});

// A whole number ≥ 1, or "All" for every serving pod of the base model.
export const AdapterReplicas = z.union([z.number().int(), z.literal('All')]).default(1).meta({
  ...INT_OR_STRING,
  ...cel({ rule: "type(self) == int ? self >= 1 : self == 'All'", message: 'replicas must be a whole number ≥ 1 or "All"' }),
  description: 'how many pods host the adapter: a number ≥ 1, or All',
});

export const AdapterSpec = z.object({
  baseModel: dnsLabel.max(253).describe('name of the BaseModel in the same namespace').meta(cel(
    { rule: 'self == oldSelf', message: 'spec.baseModel is immutable: create a new Adapter instead' },
  )),
  source: AdapterSource,
  replicas: AdapterReplicas,
  priority: z.number().int().min(-1000000).max(1000000).default(0)
    .describe('when capacity is short, higher priority adapters are placed first'),
  servedName: dnsLabel.optional().describe('the name clients send as the model; default: the object name'),
});
export type AdapterSpec = z.infer<typeof AdapterSpec>;

export const Placement = z.object({
  pod: z.string(),
  state: z.enum(PLACEMENT_STATES),
  digest: z.string().optional(),
  message: z.string().max(4096).optional(),
  since: z.string().optional(),
});
export type Placement = z.infer<typeof Placement>;

export const AdapterStatus = z.object({
  observedGeneration: z.number().int().optional(),
  digest: z.string().optional(),
  sizeBytes: z.number().int().optional(),
  rank: z.number().int().optional(),
  placements: z.array(Placement).max(1000).optional(),
  readyReplicas: z.number().int().optional(),
  conditions,
});
export type AdapterStatus = z.infer<typeof AdapterStatus>;

export const Adapter = objectOf('Adapter', AdapterSpec, AdapterStatus);
export type Adapter = z.infer<typeof Adapter>;
