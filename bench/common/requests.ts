// API requests a controller made, from its rest_client_requests_total (client-go and controller-
// runtime expose it; so does Graft's operator): deltas by verb, and the writes among them.
import { requestsByMethod } from '../../test/support/operator.js';
import { changed } from './counters.js';

export type ByVerb = Record<string, number>;
export const WRITE_VERBS = ['POST', 'PUT', 'PATCH', 'DELETE'];

export async function requestCounts(metricsUrl: string): Promise<ByVerb> {
  return requestsByMethod(await (await fetch(metricsUrl)).text());
}

export const writesOf = (d: ByVerb) => WRITE_VERBS.reduce((n, m) => n + (d[m] ?? 0), 0);

// Requests during `seconds` of quiet, once the controller has settled: no write for `settleMs`
// (what was still converging, routing behind the Adapters say, finishes first), waiting at most
// `maxSettleMs` (a controller that never stops writing is measured anyway). Says how long
// settling took and how many writes it saw.
export async function quietRequests(metricsUrl: string, seconds: number, atStart?: () => Promise<void>, settleMs = 5_000, maxSettleMs = 60_000): Promise<{ writes: number; reads: number; byVerb: ByVerb; settleS: number; settleWrites: number }> {
  const t0 = Date.now();
  const start = await requestCounts(metricsUrl);
  let last = writesOf(start), lastChange = Date.now();
  while (Date.now() - lastChange < settleMs && Date.now() - t0 < maxSettleMs) {
    await new Promise((r) => setTimeout(r, 500));
    const w = writesOf(await requestCounts(metricsUrl));
    if (w !== last) { last = w; lastChange = Date.now(); }
  }
  const q0 = await requestCounts(metricsUrl);
  await atStart?.();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const d = changed(q0, await requestCounts(metricsUrl));
  return { writes: writesOf(d), reads: d.GET ?? 0, byVerb: d, settleS: (Date.now() - t0) / 1000 - seconds, settleWrites: writesOf(q0) - writesOf(start) };
}
