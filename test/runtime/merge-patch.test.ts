// The status merge patch (RFC 7386) from the freshest known status: applying it to that status
// gives exactly the new one, with arrays whole and removed fields as null.
import { describe, expect, it } from 'vitest';
import { mergePatch } from '../../src/runtime/apply.js';

// RFC 7386 MergePatch, as the API server applies it.
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

describe('mergePatch', () => {
  const before = {
    observedGeneration: 1, readyReplicas: 1, digest: 'sha256:a',
    conditions: [{ type: 'Ready', status: 'False', reason: 'Loading' }],
    placements: [{ pod: 'p1', state: 'Loaded' }, { pod: 'p2', state: 'Loading' }],
    nested: { a: 1, b: { c: 2, d: 3 } },
    message: 'going',
  };

  it('sends what changed, arrays whole, null for what is gone, and nothing when nothing changed', () => {
    const after = {
      observedGeneration: 1, readyReplicas: 2, digest: 'sha256:a',
      conditions: [{ type: 'Ready', status: 'True', reason: 'Loaded' }],
      placements: [{ pod: 'p1', state: 'Loaded' }, { pod: 'p2', state: 'Loaded' }],
      nested: { a: 1, b: { c: 2 } },
      message: undefined,
    };
    const patch = mergePatch(before, after)!;
    expect(patch).toEqual({ readyReplicas: 2, conditions: after.conditions, placements: after.placements, nested: { b: { d: null } }, message: null });
    expect(applyMergePatch(before, patch)).toEqual(JSON.parse(JSON.stringify(after)));
    expect(mergePatch(before, structuredClone(before))).toBeUndefined();
  });

  it('turns an empty status into the whole new one, and a field that became an object or a list into it', () => {
    expect(mergePatch({}, before)).toEqual(before);
    const swapped = { ...before, message: { text: 'now an object' }, nested: [1, 2] };
    expect(applyMergePatch(before, mergePatch(before, swapped))).toEqual(swapped);
  });
});
