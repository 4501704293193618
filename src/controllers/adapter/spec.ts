import { AdapterSpec } from '../../api/adapter.js';
import { BaseModelSpec } from '../../api/basemodel.js';
import { AllowedSources } from '../../contracts/allowed-sources.js';
import type { Health } from '../../runtime/conditions.js';
import { keyOf, type KubeObject } from '../../runtime/object.js';
import type { AdapterInfo } from './model.js';
import type { BaseModelState } from './report.js';

type Obj = KubeObject & { spec?: unknown; status?: unknown };

// An Adapter this pass will not place, and why (its status says so; waiting cannot help).
export type Refusal = { key: string; health: Health & { state: 'Stalled' } };

export type AdapterSet = {
  // Adapters to place and drive (live) or unload (deleting), oldest first.
  infos: AdapterInfo[];
  refused: Map<string, Refusal>;
  // servedName → key of the live Adapter that holds it.
  holders: Map<string, string>;
  // Deleting Adapters whose served name a live Adapter holds: the name's copies are that one's
  // now (it replaces or removes them), so nothing is left for the deleted one to unload.
  handedOver: Set<string>;
};

// The Adapters of one BaseModel as data. A served name belongs to the oldest live Adapter asking
// for it; a younger one is refused (ServedNameConflict). Sources outside the BaseModel's
// spec.adapters.allowedSources are refused (SourceNotAllowed) and never sent to an agent.
export function adapterSet(objects: readonly Obj[], allowed: AllowedSources): AdapterSet {
  const infos: AdapterInfo[] = [];
  const refused = new Map<string, Refusal>();
  const holders = new Map<string, string>();
  const deleting: AdapterInfo[] = [];
  for (const a of [...objects].sort(byAge)) {
    const key = keyOf(a);
    const isDeleting = !!a.metadata?.deletionTimestamp;
    const spec = AdapterSpec.safeParse(a.spec);
    if (!spec.success) {
      const issue = spec.error.issues[0];
      refused.set(key, stalled(key, 'InvalidSpec', `spec.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`));
      continue;
    }
    const servedName = spec.data.servedName ?? a.metadata!.name!;
    const info: AdapterInfo = {
      key, servedName, source: spec.data.source.uri, digest: spec.data.source.digest,
      replicas: spec.data.replicas, priority: spec.data.priority,
      sizeBytes: (a.status as { sizeBytes?: number } | undefined)?.sizeBytes, deleting: isDeleting,
    };
    if (isDeleting) { deleting.push(info); continue; }
    let allowedHere = true;
    try { allowedHere = allowed.allows(info.source); } catch { allowedHere = false; }
    if (!allowedHere) {
      refused.set(key, stalled(key, 'SourceNotAllowed', `spec.source.uri ${info.source} is not under the BaseModel's spec.adapters.allowedSources (${allowed.describe()}); use a source there, or add its bucket or prefix to the list`));
      continue;
    }
    const holder = holders.get(servedName);
    if (holder) {
      refused.set(key, stalled(key, 'ServedNameConflict', `spec.servedName (or the name) "${servedName}" is already served by Adapter ${holder}; choose another servedName`));
      continue;
    }
    holders.set(servedName, key);
    infos.push(info);
  }
  const handedOver = new Set<string>();
  for (const d of deleting) {
    if (holders.has(d.servedName)) handedOver.add(d.key);
    else infos.push(d);
  }
  return { infos, refused, holders, handedOver };
}

function stalled(key: string, reason: string, message: string): Refusal {
  return { key, health: { state: 'Stalled', reason, message } };
}

function byAge(a: Obj, b: Obj): number {
  const ta = a.metadata?.creationTimestamp ?? '', tb = b.metadata?.creationTimestamp ?? '';
  return ta < tb ? -1 : ta > tb ? 1 : keyOf(a) < keyOf(b) ? -1 : 1;
}

export type Wanted = { spec?: BaseModelSpec; baseModel: BaseModelState; set: AdapterSet };

// What the pass aims at: the BaseModel's spec (when it exists, is not being deleted and is valid)
// and the Adapters as data. `mem.missingSince` remembers since when the BaseModel has been missing.
export function wanted(bm: (KubeObject & { spec?: unknown }) | undefined, adapters: readonly KubeObject[], mem: { missingSince: number | undefined }, nowMs: number): Wanted {
  const parsed = bm && !bm.metadata?.deletionTimestamp ? BaseModelSpec.safeParse(bm.spec) : undefined;
  const spec = parsed?.success ? parsed.data : undefined;
  let allowed = AllowedSources.of(undefined);
  try { allowed = AllowedSources.of(spec?.adapters.allowedSources, 'spec.adapters.allowedSources'); } catch { /* the CRD validates the list */ }
  return { spec, baseModel: baseModelState(bm, parsed, mem, nowMs), set: adapterSet(adapters, allowed) };
}

function baseModelState(obj: KubeObject | undefined, parsed: ReturnType<typeof BaseModelSpec.safeParse> | undefined, mem: { missingSince: number | undefined }, now: number): BaseModelState {
  if (!obj) {
    mem.missingSince ??= now;
    return { kind: 'missing', since: mem.missingSince };
  }
  mem.missingSince = undefined;
  const uid = obj.metadata?.uid;
  if (obj.metadata?.deletionTimestamp) return { kind: 'deleting', uid };
  if (!parsed?.success) {
    const issue = parsed?.error.issues[0];
    return { kind: 'invalid', uid, message: `spec.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  return { kind: 'ok', uid };
}
