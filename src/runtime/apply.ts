import { createHash } from 'node:crypto';
import { isDerivative, jsonEqual } from './equality.js';
import type { KubeClient } from './kube-client.js';
import type { KubeObject } from './object.js';
import { withOwner } from './owner.js';

// Server-side apply for the objects a controller owns, and merge patches of its own status, written
// only when something would change: a quiet steady state sends no writes at all.

/** Records a hash of the applied configuration, so that removing a field from it is noticed. */
export const APPLIED_HASH_ANNOTATION = 'graft.dev/applied-hash';

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

export function configHash(obj: unknown): string {
  return createHash('sha256').update(canonicalJson(obj)).digest('hex').slice(0, 16);
}

/**
 * Applies `desired` (the child as this controller wants it: only the fields it manages) with
 * `owner` as its controller. `current` is the child as last seen (from an informer cache);
 * the write is skipped when current already holds every desired field and carries the hash of
 * this same desired configuration. The comparison is semantic (zero values match absent fields,
 * quantities compare by value), so values need not be in the server's canonical form.
 */
export async function applyOwned<T extends KubeObject>(
  client: KubeClient, desired: T, owner: KubeObject | undefined, current: KubeObject | undefined, signal?: AbortSignal,
): Promise<ApplyOutcome> {
  const owned = owner ? withOwner(desired, owner) : desired;
  const hash = configHash(owned);
  const body: T = { ...owned, metadata: { ...owned.metadata, annotations: { ...owned.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash } } };
  if (current && current.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash && isDerivative(stripForCompare(body), current)) {
    return 'unchanged';
  }

  await client.apply(body, { signal });
  return current ? 'updated' : 'created';
}

/**
 * Writes `status` to the status subresource of `obj` as a JSON merge patch (RFC 7386) from
 * `current`, the status as it stands: what changed, arrays whole, and null for what is gone. The
 * controller that calls this is the only writer of this kind's status, so the patch from its own
 * freshest view is exact; a merge patch costs the API server less than a server-side apply, which
 * computes managed fields against the schema on every write, and status is a rollout's most
 * frequent write. Returns the object the server answered with, or undefined when nothing changed.
 */
export async function patchStatus(client: KubeClient, obj: KubeObject, current: Record<string, unknown> | undefined, status: Record<string, unknown>, signal?: AbortSignal): Promise<KubeObject | undefined> {
  const m = obj.metadata;
  if (!obj.apiVersion || !obj.kind || !m?.name) throw new Error('patchStatus: the object needs apiVersion, kind and metadata.name');
  const patch = mergePatch(current ?? {}, status);
  if (patch === undefined) return undefined;
  const k = await client.resolve(obj.apiVersion, obj.kind);
  return client.patch(k, m.namespace, m.name, 'merge', { status: patch }, { subresource: 'status', signal });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The RFC 7386 merge patch that turns `from` into `to` (undefined when they are the same JSON). */
export function mergePatch(from: Record<string, unknown>, to: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let changed = false;
  for (const [k, v] of Object.entries(to)) {
    if (v === undefined) continue;
    const old = from[k];
    if (isPlainObject(v) && isPlainObject(old)) {
      const inner = mergePatch(old, v);
      if (inner !== undefined) { out[k] = inner; changed = true; }
    } else if (old === undefined || !jsonEqual(old, v)) {
      out[k] = v;
      changed = true;
    }
  }
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && to[k] === undefined) { out[k] = null; changed = true; }
  }
  return changed ? out : undefined;
}

/** Whether two statuses are the same JSON (key order and undefined fields aside). */
export function statusEqual(a: unknown, b: unknown): boolean {
  return jsonEqual(a ?? {}, b ?? {});
}

function stripForCompare<T extends KubeObject>(obj: T): T {
  const { metadata, ...rest } = obj;
  const m = { ...metadata };
  delete m.resourceVersion;
  return { ...rest, metadata: m } as T;
}

function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}
