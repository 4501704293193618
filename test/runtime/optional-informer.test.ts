import { describe, expect, it } from 'vitest';
import { HTTPRouteKind } from '../../src/controllers/kinds.js';
import { FakeClock, settle } from '../../src/runtime/fake-clock.js';
import { KubeApiError, type KubeClient } from '../../src/runtime/kube-client.js';
import { OptionalInformer } from '../../src/runtime/optional-informer.js';

// The optional informer while the API server does not serve its kind: synced and empty, so the
// manager's caches sync and the controllers start; it asks discovery again on a slow timer, and a
// failing discovery request is retried with backoff without counting as "not served". (Once the
// kind is served it runs a plain Informer: test/integration/routing.test.ts.)
function client(answers: Array<'absent-kind' | 'absent-group' | 'down'>): { client: KubeClient; calls: () => number } {
  let n = 0;
  const c = {
    resolve: async (apiVersion: string, kind: string) => {
      const a = answers[Math.min(n++, answers.length - 1)];
      if (a === 'absent-kind') throw new Error(`the API server does not serve kind ${kind} in ${apiVersion}`);
      if (a === 'absent-group') throw new KubeApiError(404, 'GET', `/apis/${apiVersion}`, { reason: 'NotFound' });
      throw new KubeApiError(503, 'GET', `/apis/${apiVersion}`, { reason: 'ServiceUnavailable' });
    },
  } as unknown as KubeClient;
  return { client: c, calls: () => n };
}

describe('OptionalInformer', () => {
  it('is synced, empty and not served while the group or the kind is missing, and asks again every recheckMs', async () => {
    for (const answer of ['absent-kind', 'absent-group'] as const) {
      const clock = new FakeClock();
      const c = client([answer]);
      const inf = new OptionalInformer({ client: c.client, kind: HTTPRouteKind, clock, recheckMs: 30_000 });
      inf.start();
      await inf.waitForSync();
      expect(inf.hasSynced()).toBe(true);
      expect(inf.served()).toBe(false);
      expect(inf.list()).toEqual([]);
      expect(inf.get('ns', 'x')).toBeUndefined();
      expect(c.calls()).toBe(1);
      await clock.advance(29_000); await settle();
      expect(c.calls()).toBe(1);
      await clock.advance(1_000); await settle();
      expect(c.calls()).toBe(2);
      await inf.stop();
      await clock.advance(60_000); await settle();
      expect(c.calls()).toBe(2);
    }
  });

  it('stays unsynced while discovery fails, retrying with backoff, then syncs empty', async () => {
    const clock = new FakeClock();
    const c = client(['down', 'down', 'absent-kind']);
    const inf = new OptionalInformer({ client: c.client, kind: HTTPRouteKind, clock, recheckMs: 30_000 });
    inf.start();
    await settle();
    expect(inf.hasSynced()).toBe(false);
    await clock.advance(1_000); await settle();
    expect(c.calls()).toBe(2);
    expect(inf.hasSynced()).toBe(false);
    await clock.advance(2_000); await settle();
    expect(c.calls()).toBe(3);
    expect(inf.hasSynced()).toBe(true);
    await inf.stop();
  });
});
