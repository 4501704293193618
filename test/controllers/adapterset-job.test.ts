import { describe, expect, it } from 'vitest';
import { AdapterSetSpec } from '../../src/api/adapterset.js';
import { BaseModelSpec } from '../../src/api/basemodel.js';
import { buildStepRequest } from '../../src/controllers/adapterset/decide.js';
import { desiredJob, jobOutcome } from '../../src/controllers/adapterset/job.js';
import { decodeResult, encodeResult, StepRequest, TERMINATION_MESSAGE_MAX } from '../../src/controllers/adapterset/protocol.js';

const set = { apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', metadata: { name: 'mos', namespace: 'ml', uid: 'u-1' } };
const spec = AdapterSetSpec.parse({ baseModel: 'bm', output: { uri: 's3://bkt/out/' }, job: { activeDeadlineSeconds: 600, resources: { limits: { memory: '1Gi' } } },
  tasks: [{ name: 't1', source: { uri: 's3://bkt/t1/' } }] });
const bm = BaseModelSpec.parse({ model: { source: { uri: 'gpt2' } }, storage: { s3: { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true, credentialsSecretRef: { name: 's3-creds' } } } });

describe('the merge Job', () => {
  const req = buildStepRequest('mos', spec, {}, 0, { maxRank: 16, modelId: 'gpt2' });
  const job = desiredJob(set, spec, bm, 0, req, 'ghcr.io/graft-dev/graft:1.2.3') as any;
  const c = job.spec.template.spec.containers[0];
  it('runs `graft merge step` in Graft\'s image with the request it was built from', () => {
    expect(job.metadata).toMatchObject({ name: 'mos-step-0', namespace: 'ml', labels: { 'graft.dev/adapterset': 'mos', 'app.kubernetes.io/managed-by': 'graft' }, annotations: { 'graft.dev/task': 't1' } });
    expect(job.metadata.ownerReferences).toEqual([{ apiVersion: 'graft.dev/v1alpha1', kind: 'AdapterSet', name: 'mos', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
    expect(c.image).toBe('ghcr.io/graft-dev/graft:1.2.3');
    expect(c.args.slice(0, 3)).toEqual(['merge', 'step', '--request']);
    expect(StepRequest.parse(JSON.parse(c.args[3]))).toEqual(req);
    expect(c.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });
  it('takes S3 settings from the BaseModel and its credentials only as secretKeyRef, with the spec\'s resources and deadline', () => {
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({ GRAFT_S3_ENDPOINT: 'http://127.0.0.1:9000', GRAFT_S3_FORCE_PATH_STYLE: 'true', AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: { secretKeyRef: { name: 's3-creds', key: 'AWS_ACCESS_KEY_ID' } },
      AWS_SECRET_ACCESS_KEY: { secretKeyRef: { name: 's3-creds', key: 'AWS_SECRET_ACCESS_KEY' } },
      AWS_SESSION_TOKEN: { secretKeyRef: { name: 's3-creds', key: 'AWS_SESSION_TOKEN', optional: true } } });
    expect(c.resources).toEqual({ limits: { memory: '1Gi' } });
    expect(job.spec).toMatchObject({ activeDeadlineSeconds: 600, backoffLimit: 3 });
    expect(job.spec.template.spec).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false, securityContext: { runAsNonRoot: true } });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });
  it('reads Complete and Failed from the Job controller\'s conditions', () => {
    expect(jobOutcome({ status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toBe('Complete');
    expect(jobOutcome({ status: { conditions: [{ type: 'Failed', status: 'True' }] } })).toBe('Failed');
    expect(jobOutcome({ status: { active: 1 } })).toBeUndefined();
  });
});

describe('the step result as a termination message', () => {
  it('round-trips, stays within the kubelet\'s 4096 bytes, and refuses what is not a result', () => {
    const r = { v: 1 as const, task: 't', action: 'Rejected' as const, reason: 'x'.repeat(10_000) };
    const text = encodeResult(r);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(TERMINATION_MESSAGE_MAX);
    expect(decodeResult(text)).toMatchObject({ task: 't', action: 'Rejected' });
    expect(() => decodeResult(undefined)).toThrow(/no termination message/);
    expect(() => decodeResult('merge step failed: boom')).toThrow(/not JSON/);
    expect(() => decodeResult('{"v":1,"task":"t"}')).toThrow(/action/);
  });
});
