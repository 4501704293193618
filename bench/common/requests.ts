// API requests a controller made, from its rest_client_requests_total (client-go and controller-
// runtime expose it; so does Graft's operator): deltas by verb, and the writes among them.
import { requestsByMethod } from '../../test/support/operator.js';

export type ByVerb = Record<string, number>;
export const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'];

export async function requestCounts(metricsUrl: string): Promise<ByVerb> {
  return requestsByMethod(await (await fetch(metricsUrl)).text());
}

export function delta(before: ByVerb, after: ByVerb): ByVerb {
  return Object.fromEntries(Object.keys({ ...before, ...after }).sort().map((m) => [m, (after[m] ?? 0) - (before[m] ?? 0)]));
}

export const writesOf = (d: ByVerb) => WRITE_VERBS.reduce((n, m) => n + (d[m] ?? 0), 0);

// Requests during `seconds` of quiet, after `settleMs` for what was in flight to finish.
export async function quietRequests(metricsUrl: string, seconds: number, settleMs = 5_000): Promise<{ writes: number; reads: number; byVerb: ByVerb }> {
  await new Promise((r) => setTimeout(r, settleMs));
  const q0 = await requestCounts(metricsUrl);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const d = delta(q0, await requestCounts(metricsUrl));
  return { writes: writesOf(d), reads: d.GET ?? 0, byVerb: d };
}
