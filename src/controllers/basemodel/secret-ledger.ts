import { findCondition, isStatusTrue, READY, STALLED, type Condition } from '../../runtime/conditions.js';

// When to make a BaseModel's Secrets again. The operator may create Secrets in the namespaces it
// watches but not read them, so it cannot see one go; it remembers instead (in memory, per
// BaseModel uid) when it last made sure they exist (a 201 or a 409 AlreadyExists), and makes sure
// again only when that could help: after a while (the safety net for a Secret deleted under Ready
// pods), or sooner when the BaseModel is not Ready in a way a missing Secret can cause (pods
// stuck creating their containers): once as it leaves Ready, then at most every 30 s while it
// stays so. A Ready or otherwise Stalled BaseModel costs no request.
export const RECHECK_MS = 10 * 60_000;
export const NOT_READY_RECHECK_MS = 30_000;

// Stalled reasons a missing Secret can cause: an env secretKeyRef (the engine key) to a missing
// Secret. (A missing Secret volume leaves the pod ContainerCreating: Reconciling, not Stalled.)
const SECRET_SYMPTOMS = new Set(['CreateContainerConfigError']);

export function mayWaitOnSecret(conditions: readonly Condition[] | undefined): boolean {
  if (isStatusTrue(conditions, READY)) return false;
  const stalled = findCondition(conditions, STALLED);
  return stalled?.status !== 'True' || SECRET_SYMPTOMS.has(stalled.reason);
}

export class SecretLedger {
  private readonly ensured = new Map<string, { uid: string; at: number }>();

  due(key: string, uid: string, conditions: readonly Condition[] | undefined, now: number): boolean {
    const e = this.ensured.get(key);
    if (!e || e.uid !== uid) return true;
    const age = now - e.at;
    if (age >= RECHECK_MS) return true;
    if (!mayWaitOnSecret(conditions)) return false;
    // Condition times have whole seconds: a transition in the second of the last check counts.
    const left = Date.parse(findCondition(conditions, READY)?.lastTransitionTime ?? '');
    return age >= NOT_READY_RECHECK_MS || left + 1000 > e.at;
  }

  markEnsured(key: string, uid: string, now: number): void {
    this.ensured.set(key, { uid, at: now });
  }

  forget(key: string): void {
    this.ensured.delete(key);
  }
}
