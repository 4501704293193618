import type { AdapterStatus, Placement } from '../../api/adapter.js';
import type { KubeObject } from '../../runtime/object.js';

// Which pods an Adapter's EndpointSlice lists: a pure decision over the Adapter's status (the
// Adapter controller's report: status is the contract between controllers) and the pods as the
// cache holds them. Routing never asks an agent.

export type EndpointPod = { name: string; uid: string; address: string; nodeName?: string };

type Pod = KubeObject & { spec?: { nodeName?: string }; status?: { podIP?: string; conditions?: Array<{ type?: string; status?: string }> } };

// A pod that may take traffic: the BaseModel's own (`own`), Ready, not terminating, with an
// address an EndpointSlice may hold.
export function routablePod(p: KubeObject | undefined, own: (p: KubeObject) => boolean): EndpointPod | undefined {
  const pod = p as Pod | undefined;
  if (!pod || pod.metadata?.deletionTimestamp || !pod.status?.podIP || !own(pod)) return undefined;
  if (!endpointAddress(pod.status.podIP)) return undefined;
  if (!pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) return undefined;
  const out: EndpointPod = { name: pod.metadata!.name!, uid: pod.metadata!.uid ?? '', address: pod.status.podIP };
  if (pod.spec?.nodeName) out.nodeName = pod.spec.nodeName;
  return out;
}

// The API server refuses loopback, link-local and unspecified addresses in an EndpointSlice
// (its endpoint address validation): a pod with one (a sandbox on loopback, say) is never listed,
// rather than failing the whole slice.
export function endpointAddress(ip: string): boolean {
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return !(a === 127 || a === 0 || (a === 169 && b === 254));
  }
  const v6 = ip.toLowerCase();
  return !(v6 === '::1' || v6 === '::' || /^fe[89ab]/.test(v6));
}

// The pods to list, by name order. The current version is status.digest (the version the Adapter
// controller found on a pod for the spec as it stands; absent while no pod has it yet). A pod
// serves it when its placement is Loaded with that digest. During a rolling update the slice
// lists only pods serving the new version once one of them (a ready one) has it, and the pods
// still serving the old version until then, so clients always reach a loaded copy.
export function endpointPods(status: AdapterStatus | undefined, pod: (name: string) => EndpointPod | undefined): EndpointPod[] {
  const current: EndpointPod[] = [], previous: EndpointPod[] = [];
  const seen = new Set<string>();
  for (const p of (status?.placements ?? []) as Placement[]) {
    if (p.state !== 'Loaded' || seen.has(p.pod)) continue;
    seen.add(p.pod);
    const ready = pod(p.pod);
    if (!ready) continue;
    if (status?.digest && p.digest === status.digest) current.push(ready);
    else previous.push(ready);
  }
  return (current.length ? current : previous).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// The address family of the slice (one per EndpointSlice): IPv6 when every pod's address is one,
// else IPv4; pods of the other family are left out.
export function addressFamily(pods: readonly EndpointPod[]): 'IPv4' | 'IPv6' {
  return pods.length > 0 && pods.every((p) => p.address.includes(':')) ? 'IPv6' : 'IPv4';
}
