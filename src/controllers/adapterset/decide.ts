// The AdapterSet's decisions, as pure functions: which task is next, whether a task becomes a new
// module or merges into one (SEMA's rule, with a weight-space stand-in for its score), how a merge
// runs so that its result loads on the BaseModel (MOS's ema by default), and where a version lives.
// The controller uses them to build a step; the merge Job uses the same functions to decide once
// it has read the adapters, so both sides agree by construction.
import { createHash } from 'node:crypto';
import type { AdapterSetSpec, AdapterSetStatus } from '../../api/adapterset.js';
import type { StepRequest } from './protocol.js';

export type ExpandInput = {
  modules: readonly string[];
  novelty: Readonly<Record<string, number>>; // weight-space novelty per module, in [0, 1]
  shiftScore?: number;
  closest?: string;
  threshold: number; // for shiftScore
  noveltyThreshold: number;
  maxModules?: number;
  newModule: string;
};

export type ExpandChoice = {
  action: 'NewModule' | 'MergedInto' | 'BudgetExhausted';
  module: string;
  score?: number;
  scoreKind?: 'shift' | 'novelty';
  threshold?: number;
  reason: string;
};

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(4));

// SEMA: a task is new when its score is above the threshold for every module; a new module is
// added while the budget allows, otherwise the task merges into the closest module.
export function decideExpand(inp: ExpandInput): ExpandChoice {
  if (inp.modules.length === 0) return { action: 'NewModule', module: inp.newModule, reason: 'the first accepted task starts the pool' };
  const byNovelty = [...inp.modules].sort((a, b) => (inp.novelty[a] ?? 1) - (inp.novelty[b] ?? 1));
  const nearest = byNovelty[0];
  const closest = inp.closest && inp.modules.includes(inp.closest) ? inp.closest : nearest;
  let score: number, threshold: number, kind: 'shift' | 'novelty', what: string;
  if (inp.shiftScore !== undefined) {
    score = inp.shiftScore; threshold = inp.threshold; kind = 'shift'; what = 'shift score';
  } else {
    score = inp.novelty[nearest] ?? 1; threshold = inp.noveltyThreshold; kind = 'novelty'; what = `weight-space novelty (lowest, against ${nearest})`;
  }
  const base = { score, scoreKind: kind, threshold };
  const closestWhy = closest === inp.closest ? 'named by shift.closest' : `lowest novelty ${fmt(inp.novelty[closest] ?? 1)}`;
  if (score > threshold) {
    if (inp.maxModules === undefined || inp.modules.length < inp.maxModules) {
      return { ...base, action: 'NewModule', module: inp.newModule, reason: `${what} ${fmt(score)} > threshold ${fmt(threshold)} for every module: a new module` };
    }
    return { ...base, action: 'BudgetExhausted', module: closest, reason: `${what} ${fmt(score)} > threshold ${fmt(threshold)}, but the pool is at expand.maxModules (${inp.maxModules}): merged into the closest module ${closest} (${closestWhy})` };
  }
  return { ...base, action: 'MergedInto', module: closest, reason: `${what} ${fmt(score)} ≤ threshold ${fmt(threshold)}: merged into the closest module ${closest} (${closestWhy})` };
}

export type MergeChoice = {
  method: 'ema' | 'linear' | 'cat' | 'svd' | 'ties' | 'dare';
  rank?: number;
  alpha?: number;
  density?: number;
  majoritySign?: 'total' | 'frequency';
  seed?: number;
  label: string; // the merge as run, for the decision
};

// How a merge runs so that its result fits the BaseModel: the configured method, except that an
// exact concatenation (cat, or ema without a rank) that would exceed maxRank becomes svd to maxRank.
// `catRank` is the largest sum of input ranks over the modules.
export function chooseMerge(m: StepRequest['merge'], catRank: number, maxRank: number): MergeChoice | { error: string } {
  if (m.rank !== undefined && m.rank > maxRank) {
    return { error: `spec.merge.rank ${m.rank} is above the BaseModel's adapters.maxRank ${maxRank}: the result would not load; lower spec.merge.rank` };
  }
  switch (m.method) {
    case 'ema': {
      const alpha = m.alpha;
      if (m.rank !== undefined) return { method: 'ema', alpha, rank: m.rank, label: `ema alpha=${alpha} via svd rank=${m.rank}` };
      if (catRank <= maxRank) return { method: 'ema', alpha, label: `ema alpha=${alpha} via cat rank=${catRank} (exact)` };
      return { method: 'ema', alpha, rank: maxRank, label: `ema alpha=${alpha} via svd rank=${maxRank} (cat would need ${catRank} > maxRank ${maxRank})` };
    }
    case 'cat':
      if (catRank <= maxRank) return { method: 'cat', label: `cat rank=${catRank} (exact)` };
      return { method: 'svd', rank: maxRank, label: `svd rank=${maxRank} (cat would need ${catRank} > maxRank ${maxRank})` };
    case 'linear':
      return { method: 'linear', label: 'linear (approximate)' };
    case 'svd': {
      const rank = m.rank ?? Math.min(catRank, maxRank);
      return { method: 'svd', rank, label: `svd rank=${rank}` };
    }
    case 'ties': {
      const rank = m.rank ?? maxRank;
      return { method: 'ties', rank, density: m.density, majoritySign: m.majoritySign, label: `ties rank=${rank} density=${m.density} majoritySign=${m.majoritySign}` };
    }
    case 'dare': {
      const rank = m.rank ?? maxRank;
      return { method: 'dare', rank, density: m.density, seed: m.seed, label: `dare rank=${rank} density=${m.density} seed=${m.seed}` };
    }
  }
}

// Versions are content-addressed: the path is a hash of the inputs' digests, their weights and
// the merge as run, so the same merge always lands on the same prefix and a re-run finds it.
export function versionKey(inputs: readonly { digest: string; weight: number }[], choice: MergeChoice | Record<string, unknown>): string {
  const { label: _label, ...how } = choice as Record<string, unknown>;
  return createHash('sha256').update(canonicalJson({ inputs: inputs.map((i) => [i.digest, i.weight]), how })).digest('hex').slice(0, 32);
}

export function versionUri(output: string, module: string, key: string): string {
  return `${output.endsWith('/') ? output : `${output}/`}${module}/${key}/`;
}

// The commit marker of a version: beside its prefix (not inside, where it would change the
// digest the agent computes over the files it stages).
export function markerUri(versionUri: string): string {
  return `${versionUri.replace(/\/+$/, '')}.graft-version.json`;
}

export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

// The weight of spec task i in merges: spec.merge.weights[i] × tasks[i].weight (each default 1).
export function taskWeight(spec: AdapterSetSpec, i: number): number {
  return (spec.merge.weights?.[i] ?? 1) * (spec.tasks[i]?.weight ?? 1);
}

// The first task without a decision. Decisions are recorded in task order, so the decided tasks
// are a prefix of spec.tasks.
export function nextTaskIndex(spec: AdapterSetSpec, status: AdapterSetStatus): number {
  const decided = new Set((status.decisions ?? []).map((d) => d.task));
  const i = spec.tasks.findIndex((t) => !decided.has(t.name));
  return i < 0 ? spec.tasks.length : i;
}

export const moduleName = (index: number) => `m${index}`;

// The step for spec.tasks[index]: everything the Job needs, from the spec and what status records.
export function buildStepRequest(setName: string, spec: AdapterSetSpec, status: AdapterSetStatus, index: number,
  bm: { maxRank: number; modelId?: string }): StepRequest {
  const t = spec.tasks[index];
  const digestOf = new Map((status.decisions ?? []).map((d) => [d.task, d.taskDigest]));
  const specIndex = new Map(spec.tasks.map((x, i) => [x.name, i]));
  const modules = (status.modules ?? []).map((m) => ({
    name: m.name,
    inputs: m.tasks.map((name) => {
      const i = specIndex.get(name)!;
      return { task: name, uri: spec.tasks[i].source.uri, digest: digestOf.get(name), weight: taskWeight(spec, i) };
    }),
    served: { uri: m.uri ?? '', digest: m.digest ?? '' },
  }));
  const m = spec.merge;
  return {
    v: 1, set: setName, strategy: spec.strategy,
    task: { task: t.name, uri: t.source.uri, digest: t.source.digest, weight: taskWeight(spec, index), shiftScore: t.shift?.score, closest: t.shift?.closest },
    output: spec.output.uri, maxRank: bm.maxRank,
    expectBase: status.baseModelName ?? bm.modelId,
    merge: { method: m.method, alpha: m.alpha, rank: m.rank, meanRank: m.meanRank, density: m.density, majoritySign: m.majoritySign, seed: m.seed, dropExtraTensors: m.dropExtraTensors },
    expand: { threshold: spec.expand.threshold, noveltyThreshold: spec.expand.noveltyThreshold, maxModules: spec.expand.maxModules },
    modules,
    newModule: moduleName(modules.length),
  };
}

// A BaseModel source that names a model (org/name) rather than a location: the base model
// adapters must have been trained on. s3:// and pvc:// sources name none.
export function modelIdOf(uri: string): string | undefined {
  return /^(s3|pvc):\/\//.test(uri) ? undefined : uri;
}
