import { posix } from 'node:path';
import type { KubeObject } from '../../runtime/object.js';
import { controllerOf } from '../../runtime/owner.js';

// Refusals that protect what the BaseModel does not own. Pure decisions; the reconcile reads.

// Why `live` (an object with the name of one of the BaseModel's children) is not the BaseModel's
// to change, or undefined when it is (absent, or controlled by this very BaseModel). Server-side
// apply with force would otherwise take over any object that happens to have the same name.
// Routing asks the same of an Adapter's Service and EndpointSlice (ownerKind 'Adapter').
export function foreignObject(live: KubeObject | undefined, kindName: string, ownerUid: string, ownerKind = 'BaseModel'): string | undefined {
  if (!live) return undefined;
  const ctl = controllerOf(live);
  if (ctl?.uid === ownerUid) return undefined;
  const ns = live.metadata?.namespace, name = live.metadata?.name;
  const held = ctl ? `it is controlled by ${ctl.kind} ${ctl.name}` : 'it has no controller';
  return `${kindName} ${ns}/${name} already exists and is not controlled by this ${ownerKind} (${held})`;
}

export function ownershipMessage(conflicts: string[], ownerKind = 'BaseModel'): string {
  return `${conflicts.join('; ')}: Graft changes nothing. Give the ${ownerKind} another name, or delete or rename the ${conflicts.length > 1 ? 'objects' : 'object'} if it is not needed`;
}

// Whether a hostPath cache folder lies inside one of the operator's --allowed-host-paths (a
// node folder is a shared, persistent place: only an operator's admin can hand one out).
export function hostPathAllowed(path: string, allowed: readonly string[]): boolean {
  if (!path.startsWith('/') || path.split('/').includes('..')) return false;
  const p = posix.normalize(path).replace(/\/+$/, '') || '/';
  return allowed.map((a) => a.replace(/\/+$/, '') || '/').some((a) => a === '/' || p === a || p.startsWith(`${a}/`));
}
