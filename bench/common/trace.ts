// The trace of one Graft scale run (TRACE=file.jsonl on bench-scale's workload): when each Adapter
// was created, first carried the finalizer, first had placements in its status, first reported a
// pod per placement state (Pending, Staging, Loading, Loaded), and became Ready; and when the
// operator's adapter passes ran (controller_runtime_reconcile_* sampled from its metrics). Sampled
// at the bench's poll (250 ms), so each time is within one poll of the truth. The summary prints,
// per 5 s of the run, how many Adapters had reached each stage and how many passes ended with
// their total time: a plateau shows as a stage that stops growing while a pass runs long.
import { writeFile } from 'node:fs/promises';

type Obj = Record<string, any>;
const STAGES = ['created', 'finalizer', 'placed', 'Pending', 'Staging', 'Loading', 'Loaded', 'ready'] as const;
type Stage = typeof STAGES[number];

export class ShapeTrace {
  private readonly at = new Map<string, Partial<Record<Stage, number>>>();
  private readonly passes: Array<{ t: number; total: number; seconds: number }> = [];

  created(name: string, t: number): void { this.stage(name, 'created', t); }

  // One list of the Adapters, seen at `t`.
  observe(items: Obj[], t: number, isReady: (o: Obj) => boolean): void {
    for (const a of items) {
      const name = a.metadata.name as string;
      if ((a.metadata.finalizers ?? []).length) this.stage(name, 'finalizer', t);
      const placements = (a.status?.placements ?? []) as Obj[];
      if (placements.length) this.stage(name, 'placed', t);
      for (const p of placements) if ((STAGES as readonly string[]).includes(p.state)) this.stage(name, p.state as Stage, t);
      if (isReady(a)) this.stage(name, 'ready', t);
    }
  }

  // The operator's metrics at `t`: the adapter controller's pass count and total pass time.
  metrics(text: string, t: number): void {
    let total = 0, seconds = 0;
    for (const line of text.split('\n')) {
      if (!line.includes('controller="adapter"')) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (line.startsWith('controller_runtime_reconcile_total{')) total += v;
      else if (line.startsWith('controller_runtime_reconcile_time_seconds_sum{')) seconds += v;
    }
    const last = this.passes.at(-1);
    if (!last || last.total !== total) this.passes.push({ t, total, seconds });
  }

  private stage(name: string, s: Stage, t: number): void {
    const e = this.at.get(name) ?? {};
    e[s] ??= t;
    this.at.set(name, e);
  }

  // Lines of the per-5 s table, times relative to t0.
  summary(t0: number, stepMs = 5_000): string[] {
    const end = Math.max(t0, ...[...this.at.values()].flatMap((e) => Object.values(e) as number[]));
    const out = [`trace: ${'t_s'.padStart(5)} ${STAGES.map((s) => s.padStart(9)).join(' ')}  passes_done  pass_s_in_step`];
    let prev = this.passes.find((p) => p.t <= t0) ?? this.passes[0];
    for (let t = t0 + stepMs; t < end + stepMs; t += stepMs) {
      const counts = STAGES.map((s) => [...this.at.values()].filter((e) => e[s] !== undefined && e[s]! <= t).length);
      const last = [...this.passes].reverse().find((p) => p.t <= t) ?? prev;
      out.push(`trace: ${((t - t0) / 1000).toFixed(0).padStart(5)} ${counts.map((c) => String(c).padStart(9)).join(' ')}  ${String((last?.total ?? 0) - (prev?.total ?? 0)).padStart(11)}  ${((last?.seconds ?? 0) - (prev?.seconds ?? 0)).toFixed(1).padStart(14)}`);
      prev = last;
    }
    return out;
  }

  async write(file: string, t0: number): Promise<void> {
    const lines = [...this.at].map(([name, e]) => JSON.stringify({ name, ...Object.fromEntries(Object.entries(e).map(([k, v]) => [k, (v! - t0) / 1000])) }));
    lines.push(...this.passes.map((p) => JSON.stringify({ pass_total: p.total, pass_seconds_sum: p.seconds, t: (p.t - t0) / 1000 })));
    await writeFile(file, `${lines.join('\n')}\n`);
  }
}
