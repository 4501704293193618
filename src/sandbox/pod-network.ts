// The pod network, in the sandbox, for pods run as local processes (graft-pods.ts). Each KWOK pod
// has an address of its own in 127.0.0.0/8 (its node's podCIDR): the stand-in for the pod's network
// namespace. A process binding ":8080" would take the port on every address of the machine, and two
// replicas would collide, so a bind address ":PORT", "0.0.0.0:PORT" or "[::]:PORT" in the arguments
// becomes "<podIP>:PORT". Cluster DNS and kube-proxy are not there either: a URL naming a Service
// (http://NAME.NS.svc[.cluster.local][:PORT]/…) becomes one of its ready endpoints' address and
// port, computed from the Service and its pods, when the process starts (a real resolver would ask again
// per connection; the pods that use this, the helm test Pod, run after the Service has endpoints).
type Obj = Record<string, any>;

const BIND = /^(--?[A-Za-z0-9-]+=)?(?:0\.0\.0\.0|\[::\])?:(\d+)$/;

export function bindToPodIP(args: string[], podIP: string): string[] {
  return args.map((a) => {
    const m = BIND.exec(a);
    return m ? `${m[1] ?? ''}${podIP}:${m[2]}` : a;
  });
}

const SERVICE_URL = /\b(https?):\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\.?(?::(\d+))?(?=[/?#]|$)/g;

export type ServiceEndpoint = { address: string; port: number };
// Given a Service and one of its ports, a ready endpoint (undefined when there is none).
export type EndpointLookup = (namespace: string, service: string, port: number) => Promise<ServiceEndpoint | undefined>;

export async function resolveServiceUrls(args: string[], lookup: EndpointLookup): Promise<string[]> {
  const out: string[] = [];
  for (const a of args) {
    let result = a;
    for (const m of [...a.matchAll(SERVICE_URL)]) {
      const [whole, scheme, name, , ns, , port] = m;
      const want = port ? Number(port) : scheme === 'https' ? 443 : 80;
      const ep = await lookup(ns!, name!, want);
      if (ep) result = result.replace(whole, `${scheme}://${ep.address}:${ep.port}`);
    }
    out.push(result);
  }
  return out;
}

// The lookup from a Service and the pods it selects, as the EndpointSlice controller computes its
// endpoints: Ready pods not being deleted, the targetPort (a number, or a container port's name;
// the Service port when unset). The sandbox's EndpointSlices themselves stay empty: the API server
// refuses loopback addresses in them ("may not be in the loopback range"), and every KWOK pod IP
// is one.
export function endpointFrom(service: Obj | undefined, pods: Obj[], port: number): ServiceEndpoint | undefined {
  const sp = (service?.spec?.ports as Obj[] | undefined)?.find((p) => p.port === port);
  const selector = service?.spec?.selector as Record<string, string> | undefined;
  if (!sp || !selector || !Object.keys(selector).length) return undefined;
  for (const pod of pods) {
    const labels = (pod.metadata?.labels ?? {}) as Record<string, string>;
    if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) continue;
    if (pod.metadata.deletionTimestamp || !pod.status?.podIP) continue;
    if (!(pod.status.conditions as Obj[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const target = sp.targetPort ?? sp.port;
    const number = typeof target === 'number' ? target
      : ((pod.spec.containers as Obj[]).flatMap((c) => (c.ports as Obj[] | undefined) ?? []).find((cp) => cp.name === target)?.containerPort as number | undefined);
    if (number) return { address: pod.status.podIP, port: number };
  }
  return undefined;
}
