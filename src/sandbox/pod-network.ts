// Service names for pods run as local processes (graft-pods.ts). Each pod has a network namespace
// and address of its own (pod-netns.ts), and the controller manager fills EndpointSlices with those
// addresses, but there is no cluster DNS or kube-proxy: a URL naming a Service
// (http://NAME.NS.svc[.cluster.local][:PORT]/…) in a pod's arguments becomes one of the Service's
// ready endpoints, read from its EndpointSlices when the process starts (a real resolver would ask
// again per connection; the pods that use this, the helm test Pod, run after the Service has
// endpoints, and GraftPods holds a pod back while a Service it names has none).
type Obj = Record<string, any>;

const SERVICE_URL = /\b(https?):\/\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\.?(?::(\d+))?(?=[/?#]|$)/g;

export type ServiceEndpoint = { address: string; port: number };
// Given a Service and one of its ports, a ready endpoint (undefined when there is none).
export type EndpointLookup = (namespace: string, service: string, port: number) => Promise<ServiceEndpoint | undefined>;

// The arguments with every Service URL that has a ready endpoint rewritten, and the Services
// (NS/NAME:PORT) that have none (their URLs are kept as they are).
export async function resolveServiceUrls(args: string[], lookup: EndpointLookup): Promise<{ args: string[]; unresolved: string[] }> {
  const out: string[] = [], unresolved: string[] = [];
  for (const a of args) {
    let result = a;
    for (const m of [...a.matchAll(SERVICE_URL)]) {
      const [whole, scheme, name, , ns, , port] = m;
      const want = port ? Number(port) : scheme === 'https' ? 443 : 80;
      const ep = await lookup(ns!, name!, want);
      if (ep) result = result.replace(whole, `${scheme}://${ep.address}:${ep.port}`);
      else unresolved.push(`${ns}/${name}:${want}`);
    }
    out.push(result);
  }
  return { args: out, unresolved };
}

// A ready endpoint of a Service port, from the Service and its EndpointSlices as the API holds them
// (label kubernetes.io/service-name): the slice port is the Service port's by name (both unnamed
// when the Service has one port), its number the target port; an endpoint is ready unless its
// conditions say otherwise (a missing ready condition means ready, as kube-proxy reads it).
export function endpointFromSlices(service: Obj | undefined, slices: Obj[], port: number): ServiceEndpoint | undefined {
  const sp = (service?.spec?.ports as Obj[] | undefined)?.find((p) => p.port === port);
  if (!sp) return undefined;
  const name = (sp.name as string | undefined) ?? '';
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== 'IPv4') continue;
    const number = ((slice.ports ?? []) as Obj[]).find((p) => (p.name ?? '') === name)?.port as number | undefined;
    if (!number) continue;
    for (const ep of (slice.endpoints ?? []) as Obj[]) {
      const c = (ep.conditions ?? {}) as Obj;
      if (c.ready === false || c.terminating === true || !ep.addresses?.length) continue;
      return { address: ep.addresses[0], port: number };
    }
  }
  return undefined;
}
