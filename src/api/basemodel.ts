import { z } from 'zod';
import {
  Affinity, cel, conditions, dnsLabel, EnvVar, objectOf, ObjectReference, Quantity, ResourceRequirements, s3Uri, Toleration,
} from './common.js';

export const ENGINE_TYPES = ['vllm', 'sglang'] as const;
export const MAX_RANKS = [8, 16, 32, 64, 128, 256, 320, 512] as const;
export const CACHE_MEDIA = ['emptyDir', 'pvc', 'hostPath'] as const;

// A model id the engine fetches itself (org/name), an s3:// prefix, or pvc://claim/path.
export const MODEL_SOURCE_PATTERN =
  '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\s]*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[^\\s]*)?|[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?)$';

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

// Gateway API's ParentReference, the part Graft lets a BaseModel set (kind Gateway only).
export const GatewayParentRef = z.object({
  name: z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a DNS-1123 subdomain').describe('the Gateway\'s name'),
  namespace: dnsLabel.optional().describe('the Gateway\'s namespace; default: the BaseModel\'s (another namespace\'s Gateway must allow routes from this one in its listeners)'),
  sectionName: z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a DNS-1123 subdomain').optional()
    .describe('one listener of the Gateway, by name; default: every listener that admits the route'),
});
export type GatewayParentRef = z.infer<typeof GatewayParentRef>;

export const BaseModelSpec = z.object({
  model: z.object({
    name: z.string().min(1).max(253).optional()
      .describe('the model name clients send (--served-model-name); default: the object name'),
    source: z.object({
      uri: z.string().min(1).max(1024).regex(new RegExp(MODEL_SOURCE_PATTERN))
        .describe('s3://bucket/prefix/ (staged into the cache before the engine starts), pvc://claim/path, or a model id the engine fetches itself'),
    }),
  }),
  engine: z.object({
    type: z.enum(ENGINE_TYPES).default('vllm').describe('the inference engine'),
    image: z.string().min(1).optional().describe('engine image; default: a pinned tag per engine type'),
    args: z.array(z.string()).max(128).optional().describe('extra engine arguments, appended after the ones Graft sets'),
    env: z.array(EnvVar).max(128).optional().describe('extra engine environment; overrides Graft\'s variables of the same name'),
    port: z.number().int().min(1).max(65535).default(8000).describe('the engine\'s HTTP port'),
    runAsUser: z.number().int().min(1).max(2147483647).optional()
      .describe('the engine\'s user id when security.engineNonRoot (default 65532, the agent\'s); the group is always 65532, the cache volume\'s'),
  }).default({ type: 'vllm', port: 8000 }),
  replicas: z.number().int().min(0).max(1000).default(1).describe('number of serving pods: the Deployment\'s replicas'),
  resources: ResourceRequirements.default({ limits: { 'nvidia.com/gpu': 1 } })
    .describe('engine container resources; default one nvidia.com/gpu'),
  nodeSelector: z.record(z.string(), z.string()).optional().describe('copied to the pods\' nodeSelector'),
  tolerations: z.array(Toleration).max(64).optional().describe('copied to the pods\' tolerations'),
  affinity: Affinity.optional(),
  priorityClassName: z.string().max(253).optional().describe('copied to the pods\' priorityClassName'),
  serviceAccountName: z.string().max(253).optional().describe('the pods\' service account (for cloud identity to S3)'),
  adapters: z.object({
    maxPerPod: z.number().int().min(1).max(1024).default(8)
      .describe('how many adapters one pod may host (staged on disk and registered with the engine)'),
    maxLoaded: z.number().int().min(1).max(1024).optional()
      .describe('adapters in one batch on the GPU: --max-loras (vLLM), --max-loras-per-batch (SGLang); default min(4, maxCpuLoaded)'),
    maxCpuLoaded: z.number().int().min(1).max(1024).optional()
      .describe('adapters kept in CPU memory: --max-cpu-loras (vLLM), --max-loaded-loras (SGLang); default maxPerPod'),
    maxRank: z.union(MAX_RANKS.map((r) => z.literal(r)) as unknown as [z.ZodLiteral<8>, z.ZodLiteral<16>])
      .default(16).describe('largest LoRA rank the engine accepts: --max-lora-rank'),
    allowedSources: z.array(s3Uri('allowedSources[]')).max(64).optional()
      .describe('s3://bucket/ or s3://bucket/prefix/ entries that adapter sources must start with; the operator refuses others (SourceNotAllowed) and the agent enforces the same list; unset: any source the pods\' credentials can read'),
  }).default({ maxPerPod: 8, maxRank: 16 }).meta(cel(
    { rule: '!has(self.maxLoaded) || !has(self.maxCpuLoaded) || self.maxLoaded <= self.maxCpuLoaded',
      message: 'spec.adapters.maxLoaded must be ≤ spec.adapters.maxCpuLoaded', fieldPath: '.maxLoaded' },
    { rule: '!has(self.maxCpuLoaded) || self.maxCpuLoaded <= self.maxPerPod',
      message: 'spec.adapters.maxCpuLoaded must be ≤ spec.adapters.maxPerPod', fieldPath: '.maxCpuLoaded' },
    { rule: 'has(self.maxCpuLoaded) || !has(self.maxLoaded) || self.maxLoaded <= self.maxPerPod',
      message: 'spec.adapters.maxLoaded must be ≤ spec.adapters.maxPerPod', fieldPath: '.maxLoaded' },
  )),
  security: z.object({
    agentTLS: z.boolean().default(true)
      .describe('serve the agent API over TLS with a certificate the operator issues for this BaseModel and pins'),
    engineAPIKey: z.boolean().default(true)
      .describe('start the engine with --api-key from a Secret Graft makes (<name>-engine-key); only the agent and clients given that Secret can call the engine'),
    networkPolicy: z.boolean().default(true)
      .describe('a NetworkPolicy (<name>-graft) that admits only the operator\'s pods to the agent port and anyone to the engine port'),
    engineNonRoot: z.boolean().default(true)
      .describe('run the engine as a non-root user (engine.runAsUser) with HOME in an emptyDir, so the pods pass the restricted Pod Security Standard; turn off for engine images that must run as root (the pods then pass only baseline)'),
  }).default({ agentTLS: true, engineAPIKey: true, networkPolicy: true, engineNonRoot: true }),
  routing: z.object({
    gateway: GatewayParentRef.optional()
      .describe('a Gateway (gateway.networking.k8s.io) to route through: Graft writes HTTPRoutes (<name>-0, <name>-1, …) attached to it, one rule per served name by the header X-Gateway-Model-Name and one by the path prefix /<name>/<served name>/ (docs/routing.md); unset: no HTTPRoute, only the Services'),
  }).optional(),
  storage: z.object({
    s3: z.object({
      endpoint: z.string().regex(/^https?:\/\/[^\s/]+(\/.*)?$/).optional()
        .describe('S3 endpoint URL; default: AWS for the region'),
      region: z.string().min(1).default('us-east-1').describe('AWS_REGION of the agent'),
      forcePathStyle: z.boolean().default(false).describe('path-style addressing, for S3-compatible servers'),
      credentialsSecretRef: ObjectReference.optional()
        .describe('Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; default: the pod\'s cloud identity'),
    }).optional(),
    cache: z.object({
      medium: z.enum(CACHE_MEDIA).default('emptyDir').describe('where staged adapters and base weights live'),
      size: Quantity.optional().describe('emptyDir size limit, or the disk budget of the agent'),
      claimName: z.string().max(253).optional().describe('the PersistentVolumeClaim, when medium is pvc'),
      path: z.string().regex(/^\//).optional()
        .describe('the node folder, when medium is hostPath; it must lie inside a folder of the operator\'s --allowed-host-paths (else Stalled, HostPathNotAllowed)'),
    }).default({ medium: 'emptyDir' }).meta(cel(
      { rule: "self.medium != 'pvc' || has(self.claimName)", message: 'spec.storage.cache.claimName is required when medium is pvc', fieldPath: '.claimName' },
      { rule: "self.medium != 'hostPath' || has(self.path)", message: 'spec.storage.cache.path is required when medium is hostPath', fieldPath: '.path' },
    )),
  }).default({ cache: { medium: 'emptyDir' } }),
});
export type BaseModelSpec = z.infer<typeof BaseModelSpec>;

export const Endpoint = z.object({
  pod: z.string(),
  address: z.string().optional(),
  ready: z.boolean(),
});
export type Endpoint = z.infer<typeof Endpoint>;

export const BaseModelStatus = z.object({
  observedGeneration: z.number().int().optional(),
  replicas: z.number().int().optional().describe('pods of the Deployment (the scale subresource\'s status.replicas)'),
  readyReplicas: z.number().int().optional(),
  selector: z.string().optional()
    .describe('the serving pods\' label selector (the scale subresource\'s status.selector, for HPA and KEDA)'),
  endpoints: z.array(Endpoint).max(1000).optional(),
  conditions,
});
export type BaseModelStatus = z.infer<typeof BaseModelStatus>;

export const BaseModel = objectOf('BaseModel', BaseModelSpec, BaseModelStatus);
export type BaseModel = z.infer<typeof BaseModel>;
