import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { withoutManagedFields } from './object.js';
import type { RecordRequest } from './request-counting.js';

// client-node's Watch with two additions:
// - each watch request is counted (as a GET, by the status it was answered with);
// - each watch has a bounded life, as client-go's reflector does: the server is asked to end it
//   after 5–10 minutes (timeoutSeconds), and if it has not ended a minute after that the client
//   aborts it. client-node 1.4 sets no timeout at all, so a connection that dies without a TCP
//   reset would otherwise leave an informer waiting forever. An ended watch is resumed from its
//   resourceVersion by ListWatch; an aborted one is restarted by the Informer.

export interface WatchLifeOptions {
  /** The server ends a watch after minSeconds · (1 + random) seconds (default 300). */
  minSeconds?: number;
  /** The client aborts a watch this long after that, if it is still open (default 60 s). */
  graceMs?: number;
  random?: () => number;
}

export class RuntimeWatch extends Watch {
  private readonly minSeconds: number;
  private readonly graceMs: number;
  private readonly random: () => number;

  constructor(config: KubeConfig, private readonly record: RecordRequest, life: WatchLifeOptions = {}) {
    super(config);
    this.minSeconds = life.minSeconds ?? 300;
    this.graceMs = life.graceMs ?? 60_000;
    this.random = life.random ?? Math.random;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const url = `${this.config.getCurrentCluster()?.server ?? ''}${path}`;
    const timeoutSeconds = Math.max(1, Math.floor(this.minSeconds * (1 + this.random())));
    let timer: NodeJS.Timeout | undefined;
    // Errors before watch() returns come from the request itself (no answer, or a non-200
    // status); anything later is the stream of an answered (200) watch ending.
    let early: unknown = undefined;
    let returned = false;
    let finished = false;
    // Caches keep no managedFields (object.ts withoutManagedFields): nothing reads them.
    const strip = (phase: string, apiObj: any, watchObj?: any) => callback(phase, withoutManagedFields(apiObj), watchObj);
    const controller = await super.watch(path, { ...queryParams, timeoutSeconds }, strip, (err) => {
      finished = true;
      if (timer) clearTimeout(timer);
      if (!returned && early === undefined) early = err ?? null;
      done(err);
    });
    returned = true;
    if (early) {
      const code = (early as { statusCode?: unknown }).statusCode;
      this.record('GET', url, typeof code === 'number' ? code : '<error>');
    } else {
      this.record('GET', url, 200);
    }
    if (!finished) {
      timer = setTimeout(() => controller.abort(new Error(`watch ${path} outlived its ${timeoutSeconds} s timeout; aborting`)), timeoutSeconds * 1000 + this.graceMs);
      timer.unref();
    }
    return controller;
  }
}
