// How a step's result becomes status, and which version each module serves. Pure: status in,
// status out. Decisions and versions are append-only; nothing recorded is ever rewritten.
import { createHash } from 'node:crypto';
import { MAX_LISTED_VERSIONS, type AdapterSetSpec, type AdapterSetStatus, type Decision, type Module, type Version } from '../../api/adapterset.js';
import type { StepResult } from './protocol.js';

// The child Adapter of a module: "<set>-<module>", shortened with a hash to stay a DNS label.
export function childName(set: string, module: string): string {
  const full = `${set}-${module}`;
  if (full.length <= 63) return full;
  const h = createHash('sha256').update(set).digest('hex').slice(0, 6);
  return `${set.slice(0, 63 - module.length - 8).replace(/-+$/, '')}-${h}-${module}`;
}

// The Job of spec.tasks[index]: one per task, so a re-created Job has the same name.
export function jobName(set: string, index: number): string {
  const suffix = `-step-${index}`;
  const full = `${set}${suffix}`;
  if (full.length <= 63) return full;
  const h = createHash('sha256').update(set).digest('hex').slice(0, 6);
  return `${set.slice(0, 63 - suffix.length - 7).replace(/-+$/, '')}-${h}${suffix}`;
}

// Appends the decision for a step's result and, when it produced a version, the version and the
// module's new task list. A result for a task that already has a decision changes nothing.
export function applyResult(status: AdapterSetStatus, result: StepResult, opts: { time: string; job: string }): AdapterSetStatus {
  if ((status.decisions ?? []).some((d) => d.task === result.task)) return status;
  const decision: Decision = {
    task: result.task, action: result.action, module: result.module, score: result.score, scoreKind: result.scoreKind,
    threshold: result.threshold, method: result.method, truncationError: result.truncationError,
    digest: result.version?.digest, taskDigest: result.taskDigest, job: opts.job, reason: result.reason, time: opts.time,
  };
  for (const k of Object.keys(decision) as (keyof Decision)[]) if (decision[k] === undefined) delete decision[k];
  const next: AdapterSetStatus = { ...status, decisions: [...(status.decisions ?? []), decision] };
  if (result.action === 'Rejected' || !result.version || !result.module) return next;
  const modules = [...(status.modules ?? [])];
  let i = modules.findIndex((m) => m.name === result.module);
  if (i < 0) { modules.push({ name: result.module, tasks: [], versions: [] }); i = modules.length - 1; }
  const m = modules[i];
  const tasks = [...m.tasks, result.task];
  const v: Version = { digest: result.version.digest, uri: result.version.uri, tasks, rank: result.version.rank, time: opts.time };
  modules[i] = { ...m, tasks, versions: [...(m.versions ?? []), v] };
  next.modules = modules;
  if (!next.baseModelName && result.base) next.baseModelName = result.base;
  return next;
}

export type Served = { version: Version | undefined; pinned: boolean; pinMissing?: string };

// The version a module serves: the pinned one when spec.pins names a version it has, else the
// newest. A pin to a digest the module never had keeps the newest and says so.
export function servedVersion(m: Module, pins: AdapterSetSpec['pins']): Served {
  const versions = m.versions ?? [];
  const newest = versions[versions.length - 1];
  const pin = pins?.[m.name];
  if (!pin) return { version: newest, pinned: false };
  const hit = versions.find((v) => v.digest === pin);
  if (hit) return { version: hit, pinned: true };
  return { version: newest, pinned: false, pinMissing: `spec.pins.${m.name} is ${pin}, which is not a listed version of module ${m.name}; serving its newest version — pin one of status.modules[].versions[].digest` };
}

// Keeps the listed versions bounded: the newest MAX_LISTED_VERSIONS plus any pinned one; the
// others are counted in olderVersions (they stay in S3).
export function boundVersions(m: Module, pins: AdapterSetSpec['pins']): Module {
  const versions = m.versions ?? [];
  if (versions.length <= MAX_LISTED_VERSIONS) return m;
  const pin = pins?.[m.name];
  const cut = versions.length - MAX_LISTED_VERSIONS;
  const kept = versions.filter((v, i) => i >= cut || v.digest === pin);
  return { ...m, versions: kept, olderVersions: (m.olderVersions ?? 0) + versions.length - kept.length };
}

// The served fields of every module (digest, uri, pinned, adapter) and the counts for the columns.
export function withServing(status: AdapterSetStatus, set: string, pins: AdapterSetSpec['pins']): { status: AdapterSetStatus; pinProblems: string[] } {
  const pinProblems: string[] = [];
  const modules = (status.modules ?? []).map((m0) => {
    const m = boundVersions(m0, pins);
    const s = servedVersion(m, pins);
    if (s.pinMissing) pinProblems.push(s.pinMissing);
    const out: Module = { ...m, adapter: childName(set, m.name), digest: s.version?.digest, uri: s.version?.uri };
    if (s.pinned) out.pinned = true; else delete out.pinned;
    return out;
  });
  for (const name of Object.keys(pins ?? {})) {
    if (!modules.some((m) => m.name === name)) pinProblems.push(`spec.pins names module ${name}, which this set does not have`);
  }
  return { status: { ...status, modules, moduleCount: modules.length, decidedTasks: (status.decisions ?? []).length }, pinProblems };
}
