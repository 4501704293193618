import type { KubeObject, OwnerReference } from './object.js';

// Owner references: children point at the object that made them, so the garbage collector
// deletes them with it and the owner's controller is told when they change.

export function ownerReference(owner: KubeObject, opts: { controller?: boolean; blockOwnerDeletion?: boolean } = {}): OwnerReference {
  const m = owner.metadata;
  if (!owner.apiVersion || !owner.kind || !m?.name || !m.uid) {
    throw new Error('ownerReference: the owner needs apiVersion, kind, metadata.name and metadata.uid (use the object read from the API)');
  }
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: m.name,
    uid: m.uid,
    controller: opts.controller ?? true,
    blockOwnerDeletion: opts.blockOwnerDeletion ?? true,
  };
}

/** `child` with `owner` as its (controller) owner; an existing reference to the same uid is replaced. */
export function withOwner<T extends KubeObject>(child: T, owner: KubeObject, opts?: { controller?: boolean; blockOwnerDeletion?: boolean }): T {
  const ref = ownerReference(owner, opts);
  if (ref.controller) {
    const other = controllerOf(child);
    if (other && other.uid !== ref.uid) {
      throw new Error(`${child.kind ?? 'object'} ${child.metadata?.name}: already controlled by ${other.kind} ${other.name}`);
    }
  }
  const refs = (child.metadata?.ownerReferences ?? []).filter((r) => r.uid !== ref.uid);
  return { ...child, metadata: { ...child.metadata, ownerReferences: [...refs, ref] } };
}

/** The owner reference marked controller: true, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** True when `obj` is controlled by an object of this apiVersion group and kind. */
export function isControlledBy(obj: KubeObject, ownerApiVersion: string, ownerKind: string): boolean {
  const c = controllerOf(obj);
  return !!c && c.kind === ownerKind && groupOf(c.apiVersion) === groupOf(ownerApiVersion);
}

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}
