import { Observable, type HttpLibrary } from '@kubernetes/client-node';

// Counts every request the operator sends to the Kubernetes API (rest_client_requests_total):
// the HTTP layer of client-node's generated clients is wrapped here, and watches, which
// client-node sends through its own fetch call, in watch.ts. A quiet steady state is then provable from the
// counter: no PATCH/PUT/POST/DELETE while nothing changes.

/**
 * Called once per request with its method, full URL, status code ('<error>' when none came) and,
 * for requests that are not watches, the seconds until the answer's headers arrived.
 */
export type RecordRequest = (method: string, url: string, code: number | '<error>', seconds?: number) => void;

export function hostOf(url: string): string {
  try { return new URL(url).host; } catch { return ''; }
}

/**
 * The resource a request addresses, from its path: 'configmaps', 'leases', 'adapters/status';
 * 'discovery' for API group listings. Lets a steady-state check tell lease renewals from other writes.
 */
export function resourceOf(url: string): string {
  let path: string;
  try { path = new URL(url, 'http://x').pathname; } catch { return ''; }
  const p = path.split('/').filter(Boolean);
  let rest: string[];
  if (p[0] === 'api') rest = p.slice(2);
  else if (p[0] === 'apis') rest = p.slice(3);
  else return p[0] ?? '';
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  if (rest.length === 0) return 'discovery';
  return rest.length >= 3 ? `${rest[0]}/${rest[2]}` : rest[0];
}

export function countingHttpLibrary(inner: HttpLibrary, record: RecordRequest): HttpLibrary {
  return {
    send(ctx) {
      const method = String(ctx.getHttpMethod());
      const url = ctx.getUrl();
      const t0 = performance.now();
      const seconds = () => (performance.now() - t0) / 1000;
      const sent = inner.send(ctx).toPromise().then(
        (resp) => { record(method, url, resp.httpStatusCode, seconds()); return resp; },
        (err: unknown) => { record(method, url, '<error>', seconds()); throw err; },
      );
      return new Observable(sent);
    },
  };
}
