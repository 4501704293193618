import { Observable, Watch, type HttpLibrary, type KubeConfig } from '@kubernetes/client-node';

// Counts every request the operator sends to the Kubernetes API (rest_client_requests_total):
// the HTTP layer of client-node's generated clients is wrapped, and so are watches, which
// client-node sends through its own fetch call. A quiet steady state is then provable from the
// counter: no PATCH/PUT/POST/DELETE while nothing changes.

export type RecordRequest = (method: string, host: string, code: number | '<error>') => void;

function hostOf(url: string): string {
  try { return new URL(url).host; } catch { return ''; }
}

export function countingHttpLibrary(inner: HttpLibrary, record: RecordRequest): HttpLibrary {
  return {
    send(ctx) {
      const method = String(ctx.getHttpMethod());
      const host = hostOf(ctx.getUrl());
      const sent = inner.send(ctx).toPromise().then(
        (resp) => { record(method, host, resp.httpStatusCode); return resp; },
        (err: unknown) => { record(method, host, '<error>'); throw err; },
      );
      return new Observable(sent);
    },
  };
}

/** client-node's Watch, counting each watch request (as a GET) by the status it was answered with. */
export class CountingWatch extends Watch {
  constructor(config: KubeConfig, private readonly record: RecordRequest) { super(config); }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const host = hostOf(this.config.getCurrentCluster()?.server ?? '');
    // Errors before watch() returns come from the request itself (no answer, or a non-200
    // status); anything later is the stream of an answered (200) watch ending.
    let early: unknown = undefined;
    let returned = false;
    const controller = await super.watch(path, queryParams, callback, (err) => {
      if (!returned && early === undefined) early = err ?? null;
      done(err);
    });
    returned = true;
    if (early) {
      const code = (early as { statusCode?: unknown }).statusCode;
      this.record('GET', host, typeof code === 'number' ? code : '<error>');
    } else {
      this.record('GET', host, 200);
    }
    return controller;
  }
}
