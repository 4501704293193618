// The pod network, in the sandbox, for pods run as local processes (graft-pods.ts). Each KWOK pod
// has an address of its own in 127.0.0.0/8 (its node's podCIDR): the stand-in for the pod's network
// namespace. A process binding ":8080" would take the port on every address of the machine, and two
// replicas would collide, so a bind address ":PORT", "0.0.0.0:PORT" or "[::]:PORT" in the arguments
// becomes "<podIP>:PORT". Cluster DNS and kube-proxy are not there either: a URL naming a Service
// (http://NAME.NS.svc[.cluster.local][:PORT]/…) becomes one of its ready endpoints' address and
// port, from the Service's EndpointSlices, when the process starts (a real resolver would ask again
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

// The lookup from a Service and its EndpointSlices: the Service port's name picks the slice port
// (the EndpointSlice controller has already turned a named targetPort into the pod's number).
export function endpointFrom(service: Obj | undefined, slices: Obj[], port: number): ServiceEndpoint | undefined {
  const sp = (service?.spec?.ports as Obj[] | undefined)?.find((p) => p.port === port);
  if (!sp) return undefined;
  for (const s of slices) {
    const p = (s.ports as Obj[] | undefined)?.find((x) => (x.name ?? '') === (sp.name ?? ''));
    if (!p?.port) continue;
    const e = (s.endpoints as Obj[] | undefined)?.find((x) => x.conditions?.ready !== false && x.addresses?.length);
    if (e) return { address: e.addresses[0], port: p.port };
  }
  return undefined;
}
