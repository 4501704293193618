import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  HttpMethod, PatchStrategy, ServerConfiguration, createConfiguration, setHeaderOptions,
  type ApiConstructor, type ApiType, type Configuration, type KubeConfig, type RequestContext,
} from '@kubernetes/client-node';
import { ReusedConnections } from './connections.js';
import { countingHttpLibrary, type RecordRequest } from './request-counting.js';
import { RuntimeWatch } from './watch.js';
import {
  apiVersionOf, kindId, resourcePath, splitApiVersion,
  type Kind, type KubeList, type KubeObject,
} from './object.js';

// The runtime's Kubernetes client: plain-JSON REST calls on client-node's transport (its auth,
// TLS and proxy handling), every request counted. Typed client-node APIs made with api() share
// the same counted transport.

export const FIELD_MANAGER = 'graft';

/**
 * Per-request options that make a typed client-node patch call a server-side apply, e.g.
 * `apps.patchNamespacedDeployment({ name, namespace, body, fieldManager: FIELD_MANAGER, force: true }, SERVER_SIDE_APPLY)`.
 * (client-node 1.x sends JSON merge patches unless the Content-Type header is set this way.)
 */
export const SERVER_SIDE_APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** A Kubernetes API error with the Status the server answered. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly method: string,
    readonly path: string,
    readonly status: { reason?: string; message?: string; details?: unknown } | undefined,
  ) {
    super(`${method} ${path}: ${code}${status?.reason ? ` ${status.reason}` : ''}${status?.message ? `: ${status.message}` : ''}`);
    this.name = 'KubeApiError';
  }
  get reason(): string | undefined { return this.status?.reason; }
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

export interface ApplyOptions {
  subresource?: 'status';
  fieldManager?: string;
  force?: boolean;
  signal?: AbortSignal;
}

export class KubeClient {
  readonly configuration: Configuration;
  readonly server: string;
  private readonly discovery = new Map<string, Promise<Map<string, Kind>>>();

  /**
   * Consulted before every request of a signal-bound client (withSignal): throws when this process
   * no longer holds the lease, checked by the clock at that moment (the Manager sets it).
   */
  leaseGuard?: () => void;

  // One keep-alive connection pool for every request of this client (connections.ts).
  private readonly connections = new ReusedConnections();

  constructor(readonly kubeConfig: KubeConfig, private readonly record: RecordRequest = () => {}) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster: set current-context or pass --kubeconfig');
    this.server = cluster.server.replace(/\/+$/, '');
    const connections = this.connections;
    // The kubeconfig's authentication (headers, TLS material, read afresh each time), sent over
    // the kept connections instead of a new agent per request.
    const auth = {
      getName: () => kubeConfig.getName(),
      async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
        await kubeConfig.applySecurityAuthentication(ctx);
        const fresh = ctx.getAgent();
        if (fresh) ctx.setAgent(connections.reuse(fresh));
      },
    };
    this.configuration = createConfiguration({
      baseServer: new ServerConfiguration(this.server, {}),
      authMethods: { default: auth },
      httpApi: countingHttpLibrary(createConfiguration().httpApi, record),
    });
  }

  /** Closes the kept connections (the process is stopping). */
  close(): void {
    this.connections.close();
  }

  /** A typed client-node API (CoreV1Api, …) on the counted transport. */
  api<T extends ApiType>(cls: ApiConstructor<T>): T {
    return new cls(this.configuration);
  }

  /** Makes kubeConfig.makeApiClient (and so KubernetesObjectApi.makeApiClient) use the counted transport. */
  instrumentKubeConfig(): void {
    const configuration = this.configuration;
    this.kubeConfig.makeApiClient = (<T extends ApiType>(cls: ApiConstructor<T>) => new cls(configuration)) as KubeConfig['makeApiClient'];
  }

  /** A client-node Watch whose requests are counted and whose life is bounded (watch.ts). */
  watcher(): RuntimeWatch {
    return new RuntimeWatch(this.kubeConfig, this.record);
  }

  /**
   * This client bound to a reconcile's abort signal: every request it sends (writes included)
   * carries the signal, and none is sent once it has aborted. Controllers hand this to their
   * reconcile steps, so a process that lost its lease stops writing at the next call.
   */
  withSignal(signal: AbortSignal): KubeClient {
    const bound = Object.create(this) as KubeClient;
    const base = this;
    bound.request = function <T>(method: HttpMethod | keyof typeof HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
      try { base.leaseGuard?.(); } catch (err) { return Promise.reject(err); }
      return base.request<T>(method, path, { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, signal]) : signal });
    };
    return bound;
  }

  async request<T = unknown>(method: HttpMethod | keyof typeof HttpMethod, path: string, opts: RequestOptions = {}): Promise<T> {
    // Never start a request for a reconcile that has been told to stop.
    opts.signal?.throwIfAborted();
    const ctx = this.configuration.baseServer.makeRequestContext(path, method as HttpMethod);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) ctx.setQueryParam(k, String(v));
    ctx.setHeaderParam('Accept', 'application/json');
    if (opts.body !== undefined) {
      ctx.setHeaderParam('Content-Type', opts.contentType ?? 'application/json');
      ctx.setBody(JSON.stringify(opts.body));
    }
    if (opts.signal) ctx.setSignal(opts.signal);
    await this.configuration.authMethods.default!.applySecurityAuthentication(ctx);
    const t0 = performance.now();
    let code: number | '<error>' = '<error>';
    let text: string;
    try {
      ({ code, text } = await send(ctx));
    } finally {
      this.record(String(method), ctx.getUrl(), code, (performance.now() - t0) / 1000);
    }
    let parsed: unknown = undefined;
    if (text) {
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
    }
    if (code < 200 || code > 299) {
      const status = parsed && typeof parsed === 'object' ? parsed as KubeApiError['status'] : { message: text.slice(0, 500) };
      throw new KubeApiError(code, String(method), path, status);
    }
    return parsed as T;
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubeObject>(k: Kind, namespace: string | undefined, name: string, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', resourcePath(k, namespace, name), { signal });
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return undefined;
      throw err;
    }
  }

  list<T extends KubeObject>(k: Kind, namespace?: string, opts: { labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', resourcePath(k, namespace), {
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector }, signal: opts.signal,
    });
  }

  create<T extends KubeObject>(k: Kind, obj: T, signal?: AbortSignal): Promise<T> {
    return this.request<T>('POST', resourcePath(k, obj.metadata?.namespace), { body: withType(k, obj), query: { fieldManager: FIELD_MANAGER }, signal });
  }

  /** PUT: fails with 409 Conflict when metadata.resourceVersion is stale. */
  replace<T extends KubeObject>(k: Kind, obj: T, opts: { subresource?: string; signal?: AbortSignal } = {}): Promise<T> {
    const name = requireName(obj, k);
    return this.request<T>('PUT', resourcePath(k, obj.metadata?.namespace, name, opts.subresource), { body: withType(k, obj), query: { fieldManager: FIELD_MANAGER }, signal: opts.signal });
  }

  patch<T extends KubeObject>(k: Kind, namespace: string | undefined, name: string, type: Exclude<PatchType, 'apply'>, patch: unknown, opts: { subresource?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.request<T>('PATCH', resourcePath(k, namespace, name, opts.subresource), {
      body: patch, contentType: PATCH_CONTENT_TYPES[type], query: { fieldManager: FIELD_MANAGER }, signal: opts.signal,
    });
  }

  /**
   * Server-side apply of `obj` (field manager `graft`, force by default): the object as this
   * operator wants it, holding only the fields it manages. With subresource 'status' it applies
   * the status. `metadata.resourceVersion`, if present, is a precondition.
   */
  async apply<T extends KubeObject>(obj: T, opts: ApplyOptions = {}): Promise<T> {
    if (!obj.apiVersion || !obj.kind) throw new Error('apply: the object needs apiVersion and kind');
    const k = await this.resolve(obj.apiVersion, obj.kind);
    const name = requireName(obj, k);
    const body: KubeObject = { ...obj, metadata: { ...obj.metadata } };
    delete body.metadata!.managedFields;
    delete body.metadata!.creationTimestamp;
    return this.request<T>('PATCH', resourcePath(k, obj.metadata?.namespace, name, opts.subresource), {
      body,
      contentType: PATCH_CONTENT_TYPES.apply,
      query: { fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: opts.force ?? true },
      signal: opts.signal,
    });
  }

  async delete(k: Kind, namespace: string | undefined, name: string, opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; preconditionUid?: string; signal?: AbortSignal } = {}): Promise<boolean> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.preconditionUid) body.preconditions = { uid: opts.preconditionUid };
    try {
      await this.request('DELETE', resourcePath(k, namespace, name), { body, signal: opts.signal });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return false;
      throw err;
    }
  }

  /** The Kind for apiVersion + kind, from the API server's discovery (cached per group version). */
  async resolve(apiVersion: string, kindName: string): Promise<Kind> {
    const gv = splitApiVersion(apiVersion);
    let entry = this.discovery.get(apiVersion);
    if (!entry) {
      entry = this.request<{ resources: Array<{ name: string; kind: string; namespaced: boolean }> }>('GET', gv.group ? `/apis/${apiVersion}` : `/api/${apiVersion}`)
        .then((list) => {
          const m = new Map<string, Kind>();
          for (const r of list.resources ?? []) {
            if (r.name.includes('/')) continue; // subresources
            m.set(r.kind, { ...gv, kind: r.kind, plural: r.name, namespaced: r.namespaced });
          }
          return m;
        });
      this.discovery.set(apiVersion, entry);
      entry.catch(() => this.discovery.delete(apiVersion));
    }
    const found = (await entry).get(kindName);
    if (!found) {
      this.discovery.delete(apiVersion); // a CRD may have been installed since
      throw new Error(`the API server does not serve kind ${kindName} in ${apiVersion}`);
    }
    return found;
  }
}

function requireName(obj: KubeObject, k: Kind): string {
  const name = obj.metadata?.name;
  if (!name) throw new Error(`${kindId(k)}: metadata.name is required`);
  return name;
}

function withType<T extends KubeObject>(k: Kind, obj: T): T {
  return { apiVersion: apiVersionOf(k), kind: k.kind, ...obj };
}

// One request on node:http(s) with the context's URL, headers, body, signal and agent (the kept
// one, connections.ts). node-fetch 2, under client-node's own transport, reports a false
// "Premature close" when a kept-alive socket is handed to the next request before the previous
// answer's close event: under load that failed writes that had gone through.
function send(ctx: RequestContext): Promise<{ code: number; text: string }> {
  const url = new URL(ctx.getUrl());
  const body = ctx.getBody() as string | undefined;
  const headers: Record<string, string> = { ...ctx.getHeaders() };
  if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
  const agent = ctx.getAgent() as HttpAgent | undefined;
  const signal = ctx.getSignal();
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: ctx.getHttpMethod(), headers, agent, signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error(`${ctx.getHttpMethod()} ${url.pathname}: the connection closed mid-answer`)));
    });
    req.on('error', reject);
    req.end(body);
  });
}
