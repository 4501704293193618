// The merge Job of one AdapterSet step: Graft's own image running `graft merge step`, with the
// BaseModel's S3 endpoint and its credentials Secret as environment from secretKeyRef (the kubelet
// resolves them; the operator never reads the Secret), the set's resources and deadline, owned by
// the set, and the restricted security context. The result comes back as the termination message.
import type { V1EnvVar, V1Job } from '@kubernetes/client-node';
import type { AdapterSetSpec } from '../../api/adapterset.js';
import type { BaseModelSpec } from '../../api/basemodel.js';
import { AGENT_UID, LABEL_MANAGED_BY, MANAGED_BY } from '../../contracts/names.js';
import { kind, type KubeObject } from '../../runtime/object.js';
import { withOwner } from '../../runtime/owner.js';
import type { StepRequest } from './protocol.js';
import { jobName } from './status.js';

export const JobKind = kind('batch/v1', 'Job', 'jobs');
export const LABEL_ADAPTERSET = 'graft.dev/adapterset';
export const ANNOTATION_TASK = 'graft.dev/task';
export const MERGE_CONTAINER = 'merge';
// Finished Jobs stay for `kubectl logs` a day; a Job gone before its result was recorded is simply
// made again, and its step finds the committed result.
export const JOB_TTL_SECONDS = 86_400;

function s3Env(bm: BaseModelSpec): V1EnvVar[] {
  const s3 = bm.storage.s3;
  const env: V1EnvVar[] = [{ name: 'AWS_REGION', value: s3?.region ?? 'us-east-1' }, { name: 'HOME', value: '/tmp' }];
  if (s3?.endpoint) env.push({ name: 'GRAFT_S3_ENDPOINT', value: s3.endpoint });
  if (s3?.forcePathStyle) env.push({ name: 'GRAFT_S3_FORCE_PATH_STYLE', value: 'true' });
  const ref = s3?.credentialsSecretRef?.name;
  if (ref) {
    env.push(
      { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: ref, key: 'AWS_ACCESS_KEY_ID' } } },
      { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: ref, key: 'AWS_SECRET_ACCESS_KEY' } } },
      { name: 'AWS_SESSION_TOKEN', valueFrom: { secretKeyRef: { name: ref, key: 'AWS_SESSION_TOKEN', optional: true } } },
    );
  }
  return env;
}

export function desiredJob(set: KubeObject, spec: AdapterSetSpec, bm: BaseModelSpec, index: number, req: StepRequest, image: string): KubeObject {
  const name = jobName(set.metadata!.name!, index);
  const labels = { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_ADAPTERSET]: set.metadata!.name!.slice(0, 63) };
  const job: V1Job = {
    apiVersion: 'batch/v1', kind: 'Job',
    metadata: { name, namespace: set.metadata!.namespace, labels, annotations: { [ANNOTATION_TASK]: spec.tasks[index].name } },
    spec: {
      backoffLimit: spec.job.backoffLimit,
      activeDeadlineSeconds: spec.job.activeDeadlineSeconds,
      ttlSecondsAfterFinished: JOB_TTL_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false, // the step calls S3, never the Kubernetes API
          enableServiceLinks: false,
          securityContext: { runAsNonRoot: true, runAsUser: AGENT_UID, runAsGroup: AGENT_UID, fsGroup: AGENT_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: MERGE_CONTAINER, image,
            args: ['merge', 'step', '--request', JSON.stringify(req)],
            env: s3Env(bm),
            resources: spec.job.resources as never,
            terminationMessagePolicy: 'FallbackToLogsOnError',
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
          }],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
  return withOwner(job as unknown as KubeObject, set);
}

// Complete or Failed once the Job controller has decided; undefined while it runs.
export function jobOutcome(job: KubeObject): 'Complete' | 'Failed' | undefined {
  const conds = (job.status as V1Job['status'])?.conditions ?? [];
  if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return 'Complete';
  if (conds.some((c) => c.type === 'Failed' && c.status === 'True')) return 'Failed';
  return undefined;
}
