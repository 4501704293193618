// Counters from a Prometheus text page (the operator's /metrics), summed by some of their labels,
// and the difference of two readings: what a benchmark counts between two moments.

export type Counts = Record<string, number>;

// `name`'s samples summed by the values of `labels`, joined by a space ('PATCH adapters/status').
export function counters(metricsText: string, name: string, labels: readonly string[]): Counts {
  const out: Counts = {};
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const key = labels.map((l) => new RegExp(`${l}="([^"]*)"`).exec(line)?.[1] ?? '').join(' ');
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

// What changed from `before` to `after`, keys sorted, unchanged ones left out.
export function changed(before: Counts, after: Counts): Counts {
  return Object.fromEntries(Object.keys({ ...before, ...after }).sort().map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]).filter(([, v]) => v !== 0));
}
