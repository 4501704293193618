// What `graft check` verifies for `helm test` (charts/graft/templates/tests/): the CRDs are served
// (API discovery lists every Graft kind, which needs no RBAC: discovery is open to every
// authenticated user) and the operator answers /readyz through its Service. Each check is retried
// until the deadline, since `helm test` may run right after `helm install`.
import { API_VERSION } from '../api/common.js';
import { KINDS } from '../api/kinds.js';

export type CheckResult = { name: string; ok: boolean; detail: string };

type ApiResourceList = { resources?: Array<{ name?: string }> };

/** The Graft resources missing from a discovery answer for graft.dev/v1alpha1 (empty: all served). */
export function missingResources(list: ApiResourceList | undefined): string[] {
  const served = new Set((list?.resources ?? []).map((r) => r.name));
  return KINDS.map((k) => k.plural).filter((p) => !served.has(p));
}

export type Discover = (signal: AbortSignal) => Promise<ApiResourceList | undefined>;
export type Probe = (url: string, signal: AbortSignal) => Promise<{ status: number; body: string }>;

/** Discovery of graft.dev: every kind listed. */
export async function checkCrds(discover: Discover, signal: AbortSignal): Promise<CheckResult> {
  const name = `CRDs served (${API_VERSION})`;
  try {
    const missing = missingResources(await discover(signal));
    return missing.length
      ? { name, ok: false, detail: `not served: ${missing.join(', ')}` }
      : { name, ok: true, detail: KINDS.map((k) => k.plural).join(', ') };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  }
}

/** The operator's /readyz answers 200. */
export async function checkReady(probe: Probe, url: string, signal: AbortSignal): Promise<CheckResult> {
  const name = `operator ready (${url})`;
  try {
    const r = await probe(url, signal);
    return { name, ok: r.status === 200, detail: `${r.status} ${r.body.trim().slice(0, 200)}` };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  }
}

/** Runs `once` until it passes or the deadline; returns the last result. */
export async function retryUntil(once: (signal: AbortSignal) => Promise<CheckResult>, deadline: number, intervalMs: number, now = Date.now): Promise<CheckResult> {
  for (;;) {
    const left = deadline - now();
    const result = await once(AbortSignal.timeout(Math.max(1000, Math.min(10_000, left))));
    if (result.ok || now() + intervalMs >= deadline) return result;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
