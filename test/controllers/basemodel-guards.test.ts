import { describe, expect, it } from 'vitest';
import { foreignObject, hostPathAllowed, ownershipMessage } from '../../src/controllers/basemodel/ownership.js';
import { mayWaitOnSecret, NOT_READY_RECHECK_MS, RECHECK_MS, SecretLedger } from '../../src/controllers/basemodel/secret-ledger.js';
import type { Condition } from '../../src/runtime/conditions.js';

const cond = (type: string, status: 'True' | 'False', reason = 'R', lastTransitionTime = '2025-01-01T00:00:00Z'): Condition => ({ type, status, reason, message: '', lastTransitionTime });
const ready = [cond('Ready', 'True'), cond('Reconciling', 'False'), cond('Stalled', 'False')];
const rolling = [cond('Ready', 'False'), cond('Reconciling', 'True', 'WaitingForReplicas'), cond('Stalled', 'False')];
const stalled = (reason: string) => [cond('Ready', 'False', reason), cond('Reconciling', 'False'), cond('Stalled', 'True', reason)];

describe('ownership of children', () => {
  const obj = (ownerReferences?: unknown[]) => ({ kind: 'Service', metadata: { name: 'llama', namespace: 'default', ownerReferences } as never });
  it('an absent object or one this BaseModel controls is fine', () => {
    expect(foreignObject(undefined, 'Service', 'u1')).toBeUndefined();
    expect(foreignObject(obj([{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'llama', uid: 'u1', controller: true }]), 'Service', 'u1')).toBeUndefined();
  });
  it('names the object and who holds it otherwise', () => {
    expect(foreignObject(obj(), 'Service', 'u1')).toBe('Service default/llama already exists and is not controlled by this BaseModel (it has no controller)');
    // A previous BaseModel of the same name (another uid), or another controller.
    expect(foreignObject(obj([{ apiVersion: 'graft.dev/v1alpha1', kind: 'BaseModel', name: 'llama', uid: 'old', controller: true }]), 'Service', 'u1'))
      .toContain('controlled by BaseModel llama');
    expect(foreignObject(obj([{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u1' }]), 'Service', 'u1')).toContain('no controller');
    expect(ownershipMessage(['a', 'b'])).toMatch(/^a; b: Graft changes nothing\. Give the BaseModel another name, or delete or rename the objects/);
  });
});

describe('hostPath allowlist', () => {
  it('allows folders inside an allowed one only', () => {
    expect(hostPathAllowed('/mnt/graft', [])).toBe(false);
    expect(hostPathAllowed('/mnt/graft', ['/mnt/graft'])).toBe(true);
    expect(hostPathAllowed('/mnt/graft/a/b/', ['/mnt/graft/'])).toBe(true);
    expect(hostPathAllowed('/mnt/graft-other', ['/mnt/graft'])).toBe(false);
    expect(hostPathAllowed('/mnt', ['/mnt/graft'])).toBe(false);
    expect(hostPathAllowed('/mnt/graft/../../etc', ['/mnt/graft'])).toBe(false);
    expect(hostPathAllowed('/mnt//graft/x', ['/mnt/graft'])).toBe(true);
    expect(hostPathAllowed('/etc', ['/'])).toBe(true);
    expect(hostPathAllowed('/var/x', ['/mnt/a', '/var'])).toBe(true);
  });
});

describe('when the Secrets are made again', () => {
  it('first time, for a new uid, after the recheck interval, and sooner only while pods may wait on a Secret', () => {
    const l = new SecretLedger();
    const t = Date.UTC(2025, 0, 1, 1); // an hour after the conditions' transitions
    expect(l.due('ns/a', 'u1', ready, t)).toBe(true);
    l.markEnsured('ns/a', 'u1', t);
    expect(l.due('ns/a', 'u1', ready, t + 1)).toBe(false);
    expect(l.due('ns/a', 'u2', ready, t + 1)).toBe(true); // deleted and made again
    expect(l.due('ns/a', 'u1', ready, t + RECHECK_MS - 1)).toBe(false);
    expect(l.due('ns/a', 'u1', ready, t + RECHECK_MS)).toBe(true);
    // Not Ready: pods may be stuck on a missing Secret volume, so sooner, but not on every pass.
    expect(l.due('ns/a', 'u1', rolling, t + NOT_READY_RECHECK_MS - 1)).toBe(false);
    expect(l.due('ns/a', 'u1', rolling, t + NOT_READY_RECHECK_MS)).toBe(true);
    // Stalled for a reason no Secret causes: the slow path only (a quiet steady state).
    expect(l.due('ns/a', 'u1', stalled('Unschedulable'), t + NOT_READY_RECHECK_MS)).toBe(false);
    expect(l.due('ns/a', 'u1', stalled('CreateContainerConfigError'), t + NOT_READY_RECHECK_MS)).toBe(true);
    // Leaving Ready after the last check: at once (the pods of a new rollout may lack a Secret).
    const left = (ms: number) => [cond('Ready', 'False', 'RollingOut', new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')), cond('Reconciling', 'True'), cond('Stalled', 'False')];
    expect(l.due('ns/a', 'u1', left(t + 5_000), t + 6_000)).toBe(true);
    expect(l.due('ns/a', 'u1', left(t + 500), t + 6_000)).toBe(true); // the same second as the check
    l.markEnsured('ns/a', 'u1', t + 6_000);
    expect(l.due('ns/a', 'u1', left(t + 5_000), t + 7_000)).toBe(false);
    expect(l.due('ns/a', 'u1', left(t + 5_000), t + 6_000 + NOT_READY_RECHECK_MS)).toBe(true);
    expect(l.due('ns/a', 'u1', stalled('Unschedulable'), t + 6_000 + NOT_READY_RECHECK_MS)).toBe(false);
    l.forget('ns/a');
    expect(l.due('ns/a', 'u1', ready, t + 1)).toBe(true);
  });
  it('reads the conditions', () => {
    expect(mayWaitOnSecret(undefined)).toBe(true);
    expect(mayWaitOnSecret(ready)).toBe(false);
    expect(mayWaitOnSecret(rolling)).toBe(true);
    expect(mayWaitOnSecret(stalled('CrashLoopBackOff'))).toBe(false);
  });
});
