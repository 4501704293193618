// Semantic equality of JSON values, used to skip writes that would change nothing: object key
// order does not matter, keys whose value is undefined count as absent, array order does matter.
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !jsonEqual(ao[k], bo[k])) return false;
  }
  return true;
}

// Whether `live` already holds everything `desired` says, ignoring what the API server added
// (defaults, status, metadata it manages). Zero values in `desired` (false, 0, "", [], {}) match a
// missing field, because the server drops them. Lists compare element by element, in order, with
// the same length. Kubernetes quantities compare by value ("1" = 1, "0.5" = "500m") where a
// field holds a quantity.
// This lets a reconciler skip an apply (a write) when nothing it owns has changed, and still
// notice a hand edit to any field it owns.
export function isDerivative(desired: unknown, live: unknown, path = ''): boolean {
  return firstDifference(desired, live, path) === undefined;
}

// The path of the first field where live differs from desired, for logs and tests.
export function firstDifference(desired: unknown, live: unknown, path = ''): string | undefined {
  if (isZero(desired)) return live === undefined || isZero(live) || (typeof desired === 'object' && typeof live === 'object') ? undefined : path || '.';
  if (desired === null || typeof desired !== 'object') {
    if (desired === live) return undefined;
    if (isQuantityPath(path) && quantityEqual(desired, live)) return undefined;
    return path || '.';
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return path || '.';
    for (let i = 0; i < desired.length; i++) {
      const d = firstDifference(desired[i], live[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (!live || typeof live !== 'object' || Array.isArray(live)) return path || '.';
  for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
    const d = firstDifference(v, (live as Record<string, unknown>)[k], `${path}.${k}`);
    if (d) return d;
  }
  return undefined;
}

function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

const SUFFIX: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

// A Kubernetes resource quantity as a number, or undefined when it is not one.
export function parseQuantity(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const m = /^([+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * SUFFIX[m[2] ?? ''];
}

// Quantities live under resources (limits, requests) and in emptyDir size limits.
function isQuantityPath(path: string): boolean {
  return /\.(limits|requests)\./.test(path) || path.endsWith('.sizeLimit');
}

function quantityEqual(a: unknown, b: unknown): boolean {
  const x = parseQuantity(a), y = parseQuantity(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= Math.abs(x) * 1e-12;
}
