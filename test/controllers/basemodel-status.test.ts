import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1Pod } from '@kubernetes/client-node';
import { BaseModel } from '../../src/api/basemodel.js';
import { observe, podProblem, selectorString } from '../../src/controllers/basemodel/status.js';

const bm = (replicas: number) => BaseModel.parse({
  apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', metadata: { name: 'm', namespace: 'default', generation: 1 },
  spec: { model: { source: { uri: 'org/model' } }, replicas },
});
const dep = (status: Record<string, unknown>, generation = 2): V1Deployment => ({ metadata: { name: 'm', generation }, status: { observedGeneration: generation, ...status } });
const pod = (name: string, ready: boolean, extra: Partial<NonNullable<V1Pod['status']>> = {}): V1Pod => ({
  metadata: { name },
  status: { podIP: ready ? '127.0.1.1' : undefined, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }], ...extra },
});

describe('BaseModel status', () => {
  it('is Ready only when every desired replica is updated and ready', () => {
    const o = observe(bm(2), dep({ replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }), [pod('b', true), pod('a', true)]);
    expect(o.health).toMatchObject({ state: 'Ready', reason: 'Available' });
    expect(o.endpoints.map((e) => e.pod)).toEqual(['a', 'b']);
    expect(o.endpoints[0]).toEqual({ pod: 'a', address: '127.0.1.1', ready: true });
    const partial = observe(bm(2), dep({ replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 1 }), [pod('a', true), pod('b', false)]);
    expect(partial.health).toMatchObject({ state: 'Reconciling', reason: 'WaitingForReplicas' });
  });
  it('publishes the serving pods\' selector for the scale subresource, before the Deployment exists too', () => {
    expect(observe(bm(2), undefined, []).selector).toBe('graft.dev/basemodel=m');
    expect(observe(bm(2), dep({ replicas: 2 }), []).selector).toBe('graft.dev/basemodel=m');
    expect(selectorString({ b: '2', a: '1' })).toBe('a=1,b=2');
  });
  it('is Reconciling during a rollout and while the change is not observed', () => {
    expect(observe(bm(2), dep({ replicas: 3, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 }), []).health).toMatchObject({ state: 'Reconciling', reason: 'RollingOut' });
    expect(observe(bm(2), { metadata: { generation: 3 }, status: { observedGeneration: 2 } }, []).health).toMatchObject({ state: 'Reconciling', reason: 'RollingOut' });
    expect(observe(bm(2), undefined, []).health).toMatchObject({ state: 'Reconciling', reason: 'Creating' });
  });
  it('is Stalled with the scheduler\'s message when a pod is unschedulable', () => {
    const p = pod('a', false, { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/2 nodes are available: 2 Insufficient nvidia.com/gpu.' }] });
    const o = observe(bm(1), dep({ replicas: 1, updatedReplicas: 1 }), [p]);
    expect(o.health.state).toBe('Stalled');
    expect(o.health.reason).toBe('Unschedulable');
    expect(o.health.message).toContain('Insufficient nvidia.com/gpu');
  });
  it('names image pull and crash loop problems, sidecars included', () => {
    const pull = pod('a', false, { containerStatuses: [{ name: 'engine', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ErrImagePull', message: 'not found' } } }] });
    expect(podProblem(pull)).toEqual({ reason: 'ImagePullBackOff', message: 'pod a container engine: ErrImagePull: not found' });
    const crash = pod('b', false, { initContainerStatuses: [{ name: 'graft-agent', image: 'x', imageID: '', ready: false, restartCount: 4, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } }] });
    expect(podProblem(crash)?.reason).toBe('CrashLoopBackOff');
    const o = observe(bm(2), dep({ replicas: 2 }), [pull, crash]);
    expect(o.health.message).toContain('and 1 more pod');
  });
  it('reports a deployment past its progress deadline', () => {
    const d = dep({ replicas: 1, conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "m-1" has timed out progressing.' }] });
    expect(observe(bm(1), d, []).health).toMatchObject({ state: 'Stalled', reason: 'ProgressDeadlineExceeded' });
  });
  it('ignores terminating pods and is Ready at zero replicas', () => {
    const gone: V1Pod = { ...pod('z', false), metadata: { name: 'z', deletionTimestamp: new Date() } };
    const o = observe(bm(0), dep({ replicas: 0 }), [gone]);
    expect(o.endpoints).toEqual([]);
    expect(o.health).toMatchObject({ state: 'Ready', reason: 'ScaledToZero' });
  });
});
