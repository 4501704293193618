import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { cacheSelectors, controllers } from '../../src/controllers/index.js';
import type { ControllerContext } from '../../src/runtime/controller.js';
import { FakeClock } from '../../src/runtime/fake-clock.js';
import { kindId, type Kind } from '../../src/runtime/object.js';
import { WATCHED_NAMESPACE_RULES } from '../../src/rbac/rules.js';
import { KeyRing } from '../../src/security/keys.js';
import { silentLogger } from '../../src/util/log.js';

// The read side of the rules against what the controllers really cache: every kind a controller
// reads through an informer (its own, its children, what it watches) has list and watch, and no
// rule grants list or watch on a kind nobody caches. (The write side, which the code does not
// declare, is proved by test/integration/rbac.test.ts: a missing verb there is a 403.)
function cachedKinds(): Kind[] {
  const kinds = new Map<string, Kind>();
  const add = (k: Kind) => kinds.set(kindId(k), k);
  const ctx = {
    client: {} as ControllerContext['client'],
    cache: (k: Kind) => { add(k); return { get: () => undefined, getByKey: () => undefined, list: () => [], hasSynced: () => true }; },
    events: { event: () => {} } as unknown as ControllerContext['events'],
    logger: silentLogger, clock: new FakeClock(), namespaces: undefined, registry: new Registry(), checkLeadership: () => {},
  } as ControllerContext;
  for (const factory of controllers({
    agentImage: 'graft:test', keyRing: new KeyRing(Buffer.alloc(32, 1)), allowedHostPaths: [],
    operatorNamespace: 'graft-system', operatorPodLabels: { app: 'graft' },
  })) {
    const c = factory(ctx);
    add(c.for);
    for (const k of c.owns ?? []) add(k);
    for (const w of c.watches ?? []) add(w.kind);
  }
  return [...kinds.values()];
}

const grants = (k: Kind) => new Set(WATCHED_NAMESPACE_RULES.filter((r) => r.apiGroups.includes(k.group) && r.resources.includes(k.plural)).flatMap((r) => r.verbs));

describe('RBAC rules against the controllers', () => {
  const kinds = cachedKinds();

  it('grant list and watch on every kind a controller caches', () => {
    const missing = kinds.filter((k) => !grants(k).has('list') || !grants(k).has('watch')).map(kindId);
    expect(missing).toEqual([]);
  });

  it('grant list and watch on nothing no controller caches', () => {
    const cached = new Set(kinds.map((k) => `${k.group}/${k.plural}`));
    const unused = WATCHED_NAMESPACE_RULES.filter((r) => r.verbs.includes('list') || r.verbs.includes('watch'))
      .flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`)))
      .filter((gr) => !cached.has(gr));
    expect(unused).toEqual([]);
  });

  it('never cache Secrets, and cache every kind Graft does not own by a label selector', () => {
    expect(kinds.map(kindId)).not.toContain('secrets/v1');
    const selected = new Set(cacheSelectors.map((c) => kindId(c.kind)));
    const unselected = kinds.filter((k) => k.group !== 'graft.dev' && !selected.has(kindId(k))).map(kindId);
    expect(unselected).toEqual([]);
  });
});
