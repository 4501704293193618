// How a kubelet resolves a container's environment, for the sandbox's two kubelet stand-ins (the
// pod runner for serving pods, GraftPods for Graft's own pods): values with $(VAR) expansion,
// the downward API's fields, Secret and ConfigMap keys.
type Obj = Record<string, any>;

// Objects (Secrets, ConfigMaps) read once per pod start.
export class ObjectReader {
  private readonly cache = new Map<string, Promise<Obj | undefined>>();
  constructor(private readonly read: (name: string) => Promise<Obj | undefined>) {}
  get(name: string): Promise<Obj | undefined> {
    let p = this.cache.get(name);
    if (!p) this.cache.set(name, p = this.read(name));
    return p;
  }
}

export type EnvSources = { secrets: { get(name: string): Promise<Obj | undefined> }; configMaps?: { get(name: string): Promise<Obj | undefined> } };

// A container's env as the kubelet resolves it, in order; undefined when a required Secret or
// ConfigMap key is missing (CreateContainerConfigError: the kubelet retries).
export async function resolveEnv(env: Obj[], pod: Obj, sources: EnvSources): Promise<Record<string, string> | undefined> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.value !== undefined) {
      out[e.name] = expandVars(e.value, out);
    } else if (e.valueFrom?.fieldRef) {
      out[e.name] = fieldOf(pod, e.valueFrom.fieldRef.fieldPath);
    } else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const b64 = (await sources.secrets.get(ref.name))?.data?.[ref.key];
      if (b64 === undefined) {
        if (ref.optional) continue;
        return undefined;
      }
      out[e.name] = Buffer.from(b64, 'base64').toString();
    } else if (e.valueFrom?.configMapKeyRef) {
      const ref = e.valueFrom.configMapKeyRef;
      const v = (await sources.configMaps?.get(ref.name))?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        return undefined;
      }
      out[e.name] = v;
    } else {
      out[e.name] = '';
    }
  }
  return out;
}

// The downward API's fields an env var may name.
function fieldOf(pod: Obj, path: string): string {
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label) return pod.metadata.labels?.[label[1]!] ?? '';
  const fields: Record<string, unknown> = {
    'metadata.name': pod.metadata.name, 'metadata.namespace': pod.metadata.namespace, 'metadata.uid': pod.metadata.uid,
    'spec.nodeName': pod.spec.nodeName, 'spec.serviceAccountName': pod.spec.serviceAccountName,
    'status.podIP': pod.status?.podIP, 'status.hostIP': pod.status?.hostIP,
  };
  if (!(path in fields)) throw new Error(`fieldRef ${path} is not played by the sandbox`);
  return String(fields[path] ?? '');
}

// Kubernetes' $(VAR) expansion: a variable defined earlier is replaced, $$ is a literal $, and
// an unknown reference stays as written.
export function expandVars(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : m;
  });
}
