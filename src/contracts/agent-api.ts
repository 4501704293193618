// The agent's wire API, as one set of zod schemas used by both sides: the agent validates request
// bodies with them, and the operator's client validates the agent's answers with them. Strict
// bodies: unknown fields (credentials, for one) are refused.
import { z } from 'zod';
import { DIGEST_PATTERN } from '../storage/manifest.js';
import { parseS3Uri } from '../storage/s3-uri.js';

export const ADAPTER_STATES = ['Staging', 'Staged', 'Loading', 'Loaded', 'Unloading', 'Failed'] as const;
export type AdapterState = (typeof ADAPTER_STATES)[number];

// Every reason a Failed adapter can carry. The first group depends only on the bytes or on the
// BaseModel's policy (retrying cannot help); the rest may pass on a later attempt.
export const PERMANENT_REASONS = [
  'DigestMismatch', 'InvalidSource', 'SourceEmpty', 'SourceNotFound', 'AccessDenied', 'TooLarge',
  'InvalidAdapter', 'UnsupportedVariant', 'RankTooHigh', 'BaseModelMismatch',
  'SafetensorsHeaderTooLarge', 'SafetensorsHeaderInvalid', 'SafetensorsOffsets', 'SafetensorsSizeMismatch',
  'SafetensorsDuplicateTensor', 'EngineRejected', 'SourceNotAllowed', 'ConfigTooLarge', 'TooManyObjects',
  'RetriesExhausted',
] as const;
export const TRANSIENT_REASONS = ['S3Error', 'DiskBudgetExceeded', 'DiskError', 'EngineUnavailable', 'Internal'] as const;
export const FAILURE_REASONS = [...PERMANENT_REASONS, ...TRANSIENT_REASONS] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export function isPermanent(reason: string): boolean {
  return (PERMANENT_REASONS as readonly string[]).includes(reason);
}

export const PutAdapterBody = z.strictObject({
  source: z.string({ error: 'is required: the s3://bucket/prefix/ holding the adapter' }).superRefine((s, ctx) => {
    try { parseS3Uri(s, 'source'); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^source: /, '') }); }
  }),
  digest: z.string().regex(DIGEST_PATTERN, 'must be sha256: followed by 64 lower-case hex digits').optional(),
});
export type PutAdapterBody = z.infer<typeof PutAdapterBody>;

// PUT /v1/adapters/{name}?wait=<ms>: answer once the adapter is Loaded or Failed (200), or after
// that many milliseconds with where it stands (202). A small adapter loads within a second, so the
// operator learns the outcome from the PUT itself and writes the Adapter's status once, Ready,
// instead of Loading first and Ready after its next read of the agent.
export const MAX_PUT_WAIT_MS = 10_000;
export const PutAdapterQuery = z.strictObject({
  wait: z.string().regex(/^\d{1,5}$/, { error: 'wait must be a whole number of milliseconds' })
    .transform(Number).refine((n) => n <= MAX_PUT_WAIT_MS, { error: `wait must be at most ${MAX_PUT_WAIT_MS} ms` }).optional(),
});

// What the agent reports for one adapter (GET /v1/adapters/:name, PUT, DELETE, and each item of
// the list). Fields a newer agent adds are dropped by an older operator.
export const AdapterStatus = z.object({
  name: z.string(),
  source: z.string(),
  expectedDigest: z.string().optional(),
  state: z.enum(ADAPTER_STATES),
  digest: z.string().optional(),
  bytes: z.number().optional(),
  rank: z.number().optional(),
  path: z.string().optional(),
  progress: z.object({ bytesDone: z.number(), bytesTotal: z.number() }),
  // A reason this operator does not know is kept as text: it is shown, and treated as transient.
  error: z.object({ reason: z.string(), message: z.string() }).optional(),
  attempts: z.number(),
  updatedAt: z.string(),
});
export type AdapterStatus = Omit<z.infer<typeof AdapterStatus>, 'error'> & { error?: { reason: FailureReason; message: string } };

export const AdapterList = z.object({ adapters: z.array(AdapterStatus) });

export const ErrorBody = z.object({ error: z.object({ code: z.string().optional(), field: z.string().optional(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

// The first issue as {field, message}: what a client needs to fix its request.
export function firstIssue(err: z.ZodError): { field: string; message: string } {
  const issue = err.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    return { field: issue.keys.join(', '), message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: the body takes only "source" and "digest" (S3 credentials come from the pod's Secret, never from requests)` };
  }
  return { field: issue.path.join('.') || '(body)', message: issue.message };
}
