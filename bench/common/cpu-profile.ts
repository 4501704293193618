// A small summarizer of V8 CPU profiles (node --cpu-prof): the samples of a time window, grouped by
// what the code does. Each sample goes to the category of the frame nearest its leaf that matches a
// rule (a zod call inside validation counts as zod, a fetch inside the engine client as the engine);
// Node's own internals (fs, streams, sockets) count for the nearest caller outside them, and only
// when there is none for the internal category; else "other JS". Code resumed after an await has only its own frames on the stack, so SDK
// middleware that runs after one is "S3 SDK (any request)", not its caller's category.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }
export interface ThreadProfile { file: string; thread: number; profile: CpuProfile }

// Every profile of a --cpu-prof-dir; file names are CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
export async function loadProfiles(dir: string): Promise<ThreadProfile[]> {
  const out: ThreadProfile[] = [];
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.cpuprofile')).sort()) {
    const parts = f.split('.');
    out.push({ file: f, thread: Number(parts[4] ?? 0), profile: JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile });
  }
  return out;
}

type Rule = [category: string, test: (f: CallFrame) => boolean];
const url = (re: RegExp): Rule[1] => (f) => re.test(f.url);
const fn = (re: RegExp, u?: RegExp): Rule[1] => (f) => re.test(f.functionName) && (!u || u.test(f.url));

// Nearest-to-leaf first match wins; the order settles frames matching two rules.
const RULES: Rule[] = [
  ['GC', fn(/^\(garbage collector\)$/)],
  ['idle', fn(/^\(idle\)$/)],
  ['native (program)', fn(/^\(program\)$/)],
  ['logging', url(/\/(pino|sonic-boom|fast-redact|pino-std-serializers|thread-stream|on-exit-leak-free)\/|\/util\/log\.js/)],
  ['zod', url(/\/zod\//)],
  ['metrics', url(/\/prom-client\//)],
  ['S3 list', fn(/ListObjects/)],
  ['S3 list', fn(/^listObjects$|^listRemoteFiles$/)],
  ['header GET', fn(/^getRange$|^checkRemoteHeader$/)],
  ['download (signing)', url(/\/storage\/signed-get\.js/)],
  ['hashing', url(/\/storage\/(hash-worker|hash-worker-source|ordered-hasher|manifest)\.js/)],
  ['download', url(/\/storage\/(direct-get|range-read|file-download|download|body-writer|parts|buffer-pool|dns-cache|http-head|s3-response-error)\.js/)],
  ['validation', url(/\/agent\/validate\//)],
  ['cache write', url(/\/agent\/cache\.js/)],
  ['engine calls', url(/\/agent\/engines\/|undici/)],
  ['S3 SDK (any request)', url(/@aws-sdk|@smithy|fast-xml-parser|strnum|\/storage\/s3-/)],
  ['HTTP server/TLS', url(/fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|\/agent\/(server|auth|errors|secret-file)\.js|node:_http_server|node:_tls|node:tls|node:https/)],
  ['manager', url(/\/agent\/(manager|stager|failure|lru)\.js/)],
];

// Looked at only when no frame of the stack matches a rule above.
const INTERNAL: Rule[] = [
  ['HTTP server/TLS', url(/node:_http_server|node:_tls|node:tls|node:https/)],
  ['node http client', url(/node:_http_client|node:_http_agent/)],
  ['worker start (node internals)', url(/node:internal\/(bootstrap|main\/worker_thread|worker)/)],
  ['fs (node internals)', url(/node:internal\/fs|node:fs/)],
  ['sockets, streams, timers (node internals)', url(/^node:/)],
];

function categorizer(p: CpuProfile, workerKind?: string): (id: number) => string {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // The nearest frame matching `rules`, walking from `id` to the root.
  const nearest = (id: number, rules: Rule[], memo: Map<number, string | null>): string | null => {
    const hit = memo.get(id);
    if (hit !== undefined) return hit;
    const n = byId.get(id)!;
    const up = parent.get(id);
    const cat = rules.find(([, test]) => test(n.callFrame))?.[0] ?? (up === undefined ? null : nearest(up, rules, memo));
    memo.set(id, cat);
    return cat;
  };
  const own = new Map<number, string | null>(), internal = new Map<number, string | null>();
  return (id) => {
    const cat = nearest(id, RULES, own) ?? nearest(id, INTERNAL, internal);
    if (cat && ['GC', 'idle', 'native (program)'].includes(cat)) return cat;
    return workerKind ?? cat ?? 'other JS';
  };
}

// Microseconds of samples per category inside [fromUs, toUs] (the process's monotonic clock, which
// process.hrtime shares on Linux).
export function categoryTimes(tp: ThreadProfile, fromUs: number, toUs: number): Map<string, number> {
  const p = tp.profile;
  const urls = p.nodes.map((n) => n.callFrame.url).join(' ');
  // Worker threads: the header worker (safetensors validation) and the sha256 workers.
  const workerKind = tp.thread === 0 ? undefined : /header-worker/.test(urls) ? 'validation (header worker)' : 'hashing (sha256 worker)';
  const of = categorizer(p, workerKind);
  const out = new Map<string, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    const dt = p.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs) continue;
    const c = of(p.samples[i]!);
    out.set(c, (out.get(c) ?? 0) + dt);
  }
  return out;
}

// Lines of a table: each category's share of the non-idle samples in the window, and that share of
// the measured CPU (`cpuMs`, from /proc) spread over the window's loads.
export function summarizeLoad(profiles: ThreadProfile[], window: [number, number], cpuMs: number): string[] {
  const total = new Map<string, number>();
  for (const tp of profiles) for (const [c, us] of categoryTimes(tp, window[0], window[1])) total.set(c, (total.get(c) ?? 0) + us);
  const idle = total.get('idle') ?? 0;
  total.delete('idle');
  const busy = [...total.values()].reduce((a, b) => a + b, 0);
  const lines = [`load phase: ${(busy / 1000).toFixed(0)} ms of non-idle samples (${(idle / 1000).toFixed(0)} ms idle) over ${profiles.length} thread profiles; /proc says ${cpuMs.toFixed(0)} ms CPU`];
  for (const [c, us] of [...total].sort((a, b) => b[1] - a[1])) {
    const share = busy ? us / busy : 0;
    lines.push(`${c.padEnd(40)} ${(share * 100).toFixed(1).padStart(5)} %  ${(share * cpuMs).toFixed(0).padStart(6)} ms`);
  }
  return lines;
}

// The heaviest functions by self time in the window (for finding what a category is made of).
export function topFunctions(profiles: ThreadProfile[], window: [number, number], n = 25): string[] {
  const self = new Map<string, number>();
  for (const tp of profiles) {
    const p = tp.profile;
    const byId = new Map(p.nodes.map((x) => [x.id, x]));
    let t = p.startTime;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i]!;
      if (t < window[0] || t > window[1]) continue;
      const f = byId.get(p.samples[i]!)!.callFrame;
      if (f.functionName === '(idle)') continue;
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|src)\//, '$1/')}:${f.lineNumber + 1}${tp.thread ? ` [thread ${tp.thread}]` : ''}`;
      self.set(k, (self.get(k) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
    }
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `${(us / 1000).toFixed(1).padStart(7)} ms  ${k}`);
}
