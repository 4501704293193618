import type { V1ContainerStatus, V1Deployment, V1Pod } from '@kubernetes/client-node';
import type { BaseModel, Endpoint } from '../../api/basemodel.js';
import type { Health } from '../../runtime/conditions.js';
import { selectorLabels } from '../../contracts/names.js';

// Waiting reasons that will not clear on their own: the pod needs a change (image, args, GPUs).
const STUCK_WAITING = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

export type ObservedState = {
  replicas: number;
  readyReplicas: number;
  endpoints: Endpoint[];
  // The serving pods' label selector in its string form, as the scale subresource publishes it:
  // what HPA and KEDA select pods (and their metrics) by.
  selector: string;
  health: Health;
};

// A label selector's string form (k=v,k=v; keys sorted), as `kubectl get -l` and /scale take it.
export function selectorString(labels: Record<string, string>): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

// What Kubernetes says is wrong with one pod, quoting it; undefined when nothing is stuck.
export function podProblem(pod: V1Pod): { reason: string; message: string } | undefined {
  const name = pod.metadata?.name;
  const sched = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
    return { reason: 'Unschedulable', message: `pod ${name} cannot be scheduled: ${sched.message ?? 'no reason given'}` };
  }
  const statuses: V1ContainerStatus[] = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const s of statuses) {
    const waiting = s.state?.waiting;
    if (waiting?.reason && STUCK_WAITING.has(waiting.reason)) {
      const reason = waiting.reason === 'ErrImagePull' ? 'ImagePullBackOff' : waiting.reason;
      return { reason, message: `pod ${name} container ${s.name}: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` };
    }
  }
  return undefined;
}

// The BaseModel's status from its Deployment and pods: counts, endpoints and one Health that
// decides Ready / Reconciling / Stalled.
export function observe(bm: BaseModel, deployment: V1Deployment | undefined, pods: V1Pod[]): ObservedState {
  const want = bm.spec.replicas;
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  const endpoints: Endpoint[] = live
    .map((p) => ({ pod: p.metadata!.name!, ...(p.status?.podIP ? { address: p.status.podIP } : {}), ready: isReady(p) }))
    .sort((a, b) => a.pod.localeCompare(b.pod));
  const ds = deployment?.status ?? {};
  const replicas = ds.replicas ?? 0;
  const readyReplicas = ds.readyReplicas ?? 0;
  const base = { replicas, readyReplicas, endpoints, selector: selectorString(selectorLabels(bm.metadata.name!)) };

  if (!deployment) return { ...base, health: { state: 'Reconciling', reason: 'Creating', message: 'creating the Deployment' } };

  const problems = live.map(podProblem).filter((x): x is NonNullable<typeof x> => !!x);
  if (problems.length) {
    const first = problems[0];
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more pod${problems.length > 2 ? 's' : ''})` : '';
    return { ...base, health: { state: 'Stalled', reason: first.reason, message: first.message + more } };
  }
  const conds = ds.conditions ?? [];
  const failure = conds.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (failure) return { ...base, health: { state: 'Stalled', reason: failure.reason ?? 'ReplicaFailure', message: failure.message ?? 'the ReplicaSet cannot create pods' } };
  const progressing = conds.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { ...base, health: { state: 'Stalled', reason: 'ProgressDeadlineExceeded', message: progressing.message ?? 'the rollout made no progress' } };
  }

  const observed = (ds.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const updated = ds.updatedReplicas ?? 0;
  const available = ds.availableReplicas ?? 0;
  const done = observed && updated === want && replicas === want && readyReplicas === want && available === want;
  if (done) {
    const message = want === 0 ? 'scaled to zero' : `${want} of ${want} replicas ready`;
    return { ...base, health: { state: 'Ready', reason: want === 0 ? 'ScaledToZero' : 'Available', message } };
  }
  if (!observed) return { ...base, health: { state: 'Reconciling', reason: 'RollingOut', message: 'waiting for the Deployment controller to observe the change' } };
  if (updated < want || replicas > want) {
    return { ...base, health: { state: 'Reconciling', reason: 'RollingOut', message: `${updated} of ${want} replicas updated, ${replicas} running, ${readyReplicas} ready` } };
  }
  return { ...base, health: { state: 'Reconciling', reason: 'WaitingForReplicas', message: `${readyReplicas} of ${want} replicas ready` } };
}
