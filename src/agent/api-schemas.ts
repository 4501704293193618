// Request bodies of the agent's API. Strict: unknown fields (credentials, for one) are refused.
import { z } from 'zod';
import { DIGEST_PATTERN } from '../storage/manifest.js';
import { parseS3Uri } from '../storage/s3-uri.js';

export const PutAdapterBody = z.strictObject({
  source: z.string({ error: 'is required: the s3://bucket/prefix/ holding the adapter' }).superRefine((s, ctx) => {
    try { parseS3Uri(s, 'source'); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message.replace(/^source: /, '') }); }
  }),
  digest: z.string().regex(DIGEST_PATTERN, 'must be sha256: followed by 64 lower-case hex digits').optional(),
});
export type PutAdapterBody = z.infer<typeof PutAdapterBody>;

// The first issue as {field, message}: what a client needs to fix its request.
export function firstIssue(err: z.ZodError): { field: string; message: string } {
  const issue = err.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    return { field: issue.keys.join(', '), message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: the body takes only "source" and "digest" (S3 credentials come from the pod's Secret, never from requests)` };
  }
  return { field: issue.path.join('.') || '(body)', message: issue.message };
}
