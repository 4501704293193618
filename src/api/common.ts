import { z } from 'zod';

export const GROUP = 'graft.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

// CEL rules for the API server, attached to a schema node and copied into the CRD as
// x-kubernetes-validations. Each message names the field and the fix.
export type CelRule = { rule: string; message: string; fieldPath?: string; reason?: string };
export const cel = (...rules: CelRule[]) => ({ 'x-kubernetes-validations': rules });

// Marks an integer-or-string union so the CRD generator writes x-kubernetes-int-or-string.
export const INT_OR_STRING = { 'x-kubernetes-int-or-string': true } as const;

export const S3_URI_PATTERN = '^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\s]*)?$';
export const DIGEST_PATTERN = '^sha256:[a-f0-9]{64}$';
export const DNS1123_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const s3Uri = (what: string) =>
  z.string().regex(new RegExp(S3_URI_PATTERN), `${what} must be an s3://bucket/prefix/ URI`).max(1024)
    .describe(`${what}: an s3://bucket/prefix/ URI`);

export const digest = z.string().regex(new RegExp(DIGEST_PATTERN), 'must be sha256:<64 lowercase hex digits>')
  .describe('sha256:<64 lowercase hex digits>');

export const dnsLabel = z.string().min(1).max(63).regex(new RegExp(DNS1123_LABEL), 'must be a DNS-1123 label');

// Kubernetes API conventions' condition (metav1.Condition).
export const Condition = z.object({
  type: z.string().max(316).describe('Ready, Reconciling or Stalled'),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().max(1024),
  message: z.string().max(32768).optional(),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().min(0).optional(),
});
export type Condition = z.infer<typeof Condition>;

export const conditions = z.array(Condition).max(16).optional()
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

export const CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled'] as const;

// Shapes from core/v1 that Graft passes through to pods unchanged: typed where Graft reads them,
// open (preserve-unknown-fields) where it only copies them.
export const ObjectReference = z.object({ name: dnsLabel.max(253).describe('name of an object in the same namespace') });
export const SecretKeyRef = z.object({ name: z.string().min(1), key: z.string().min(1) });

export const EnvVar = z.object({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z.looseObject({}).optional(),
});

export const Quantity = z.union([z.number().int(), z.string().regex(/^[+-]?[0-9.]+([eE][+-]?[0-9]+|[numkMGTPE]i?|[KMGTPE]i)?$/)]).meta(INT_OR_STRING);
export const ResourceRequirements = z.object({
  limits: z.record(z.string(), Quantity).optional().describe('resource limits (quantities), such as nvidia.com/gpu'),
  requests: z.record(z.string(), Quantity).optional().describe('resource requests (quantities)'),
});

export const Toleration = z.object({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

export const Affinity = z.looseObject({}).describe('core/v1 Affinity, copied to the pods unchanged');

export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  deletionTimestamp: z.string().optional(),
  creationTimestamp: z.string().optional(),
});

// Every Graft object: apiVersion, kind, metadata, spec, status.
export function objectOf<S extends z.ZodTypeAny, T extends z.ZodTypeAny>(kind: string, spec: S, status: T) {
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: ObjectMeta,
    spec,
    status: status.optional(),
  });
}
