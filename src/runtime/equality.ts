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

/**
 * True when every field set in `want` has the same value in `have`. Extra fields in `have` are
 * ignored, also inside array elements (the API server fills defaults into list items, such as a
 * port's protocol); arrays must have the same length.
 */
export function jsonSubset(want: unknown, have: unknown): boolean {
  if (want === undefined) return true;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) return false;
    return want.every((w, i) => jsonSubset(w, have[i]));
  }
  if (want === null || typeof want !== 'object') return jsonEqual(want, have);
  if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
  const h = have as Record<string, unknown>;
  for (const [k, v] of Object.entries(want as Record<string, unknown>)) {
    if (!jsonSubset(v, h[k])) return false;
  }
  return true;
}
