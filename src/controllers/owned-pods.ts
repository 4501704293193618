import { LABEL_BASEMODEL } from '../contracts/names.js';
import { controllerOf } from '../runtime/owner.js';
import type { KubeObject } from '../runtime/object.js';

// Which pods are the BaseModel's own. A label is not enough (anyone who may create a pod can set
// it, and would then be sent placements and the agent token): the pod must be controlled by a
// ReplicaSet that is controlled by a Deployment that is controlled by this BaseModel, each link
// checked by uid against the cached object. When the BaseModel is gone (garbage collection still
// removing its pods), the Deployment's controller must still name it.
export type OwnerLookup = {
  replicaSet(name: string): KubeObject | undefined;
  deployment(name: string): KubeObject | undefined;
};

export function isOwnPod(pod: KubeObject, bm: { name: string; uid?: string }, look: OwnerLookup): boolean {
  if (pod.metadata?.labels?.[LABEL_BASEMODEL] !== bm.name) return false;
  const rsRef = controllerOf(pod);
  if (!rsRef || rsRef.kind !== 'ReplicaSet' || !rsRef.apiVersion.startsWith('apps/')) return false;
  const rs = look.replicaSet(rsRef.name);
  if (!rs || rs.metadata?.uid !== rsRef.uid) return false;
  const depRef = controllerOf(rs);
  if (!depRef || depRef.kind !== 'Deployment' || !depRef.apiVersion.startsWith('apps/')) return false;
  const dep = look.deployment(depRef.name);
  if (!dep || dep.metadata?.uid !== depRef.uid) return false;
  const bmRef = controllerOf(dep);
  if (!bmRef || bmRef.kind !== 'BaseModel' || !bmRef.apiVersion.startsWith('graft.dev/') || bmRef.name !== bm.name) return false;
  return bm.uid === undefined || bmRef.uid === bm.uid;
}
