// Status conditions in the shape of the Kubernetes API conventions (metav1.Condition), and the
// three every Graft kind carries: Ready, Reconciling, Stalled (kstatus reads the last two:
// in progress while Reconciling=True or observedGeneration lags, failed while Stalled=True).
// Pure functions: they return new arrays and never touch their input.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'> & { lastTransitionTime?: string };

export const READY = 'Ready';
export const RECONCILING = 'Reconciling';
export const STALLED = 'Stalled';

// metav1.Condition's validation: reason is CamelCase-ish, at most 1024 chars; message at most 32768.
const REASON_RE = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;
const MAX_MESSAGE = 32_768;

/** Time as metav1.Time writes it: RFC 3339, whole seconds. */
export function metaTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isStatusTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * Sets one condition. lastTransitionTime changes only when the status flips (or the condition is
 * new); reason, message and observedGeneration are always updated. Order is kept; a new condition
 * goes last.
 */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, nowMs: number): Condition[] {
  if (!REASON_RE.test(input.reason) || input.reason.length > 1024) {
    throw new Error(`condition ${input.type}: reason "${input.reason}" must be CamelCase letters and digits (the API server refuses other forms)`);
  }
  const message = input.message.length > MAX_MESSAGE ? `${input.message.slice(0, MAX_MESSAGE - 3)}...` : input.message;
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === input.type);
  const prev = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = prev && prev.status === input.status
    ? prev.lastTransitionTime
    : input.lastTransitionTime ?? metaTime(nowMs);
  const next: Condition = { type: input.type, status: input.status, reason: input.reason, message, lastTransitionTime };
  if (input.observedGeneration !== undefined) next.observedGeneration = input.observedGeneration;
  if (i >= 0) list[i] = next; else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** The state a reconcile ended in, which decides all three standard conditions. */
export type Health =
  | { state: 'Ready'; reason: string; message: string }
  | { state: 'Reconciling'; reason: string; message: string }
  | { state: 'Stalled'; reason: string; message: string };

/**
 * Sets Ready, Reconciling and Stalled together, consistently:
 * Ready → Ready=True, Reconciling=False, Stalled=False;
 * Reconciling → Ready=False, Reconciling=True, Stalled=False;
 * Stalled → Ready=False, Reconciling=False, Stalled=True.
 * The non-leading conditions carry the same reason, so each reads on its own.
 */
export function setStandardConditions(conditions: readonly Condition[] | undefined, health: Health, generation: number | undefined, nowMs: number): Condition[] {
  const g = generation;
  const st = (on: boolean): ConditionStatus => (on ? 'True' : 'False');
  let out = setCondition(conditions, { type: READY, status: st(health.state === 'Ready'), reason: health.reason, message: health.message, observedGeneration: g }, nowMs);
  out = setCondition(out, { type: RECONCILING, status: st(health.state === 'Reconciling'), reason: health.reason, message: health.state === 'Reconciling' ? health.message : '', observedGeneration: g }, nowMs);
  out = setCondition(out, { type: STALLED, status: st(health.state === 'Stalled'), reason: health.reason, message: health.state === 'Stalled' ? health.message : '', observedGeneration: g }, nowMs);
  return out;
}
