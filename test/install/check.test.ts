import { describe, expect, it } from 'vitest';
import { checkCrds, checkReady, missingResources, retryUntil } from '../../src/install/check.js';

// `graft check` (the chart's helm test) decides from discovery and /readyz answers; the real
// answers are exercised in test/integration/image.test.ts against a real API server and operator.
describe('graft check', () => {
  it('names the Graft resources discovery does not list', () => {
    expect(missingResources({ resources: [{ name: 'basemodels' }, { name: 'basemodels/status' }] })).toEqual(['adapters', 'adaptersets']);
    expect(missingResources({ resources: [{ name: 'basemodels' }, { name: 'adapters' }, { name: 'adaptersets' }] })).toEqual([]);
    expect(missingResources(undefined)).toEqual(['basemodels', 'adapters', 'adaptersets']);
  });

  it('reports a failed discovery or probe with its error, and a 503 with its body', async () => {
    const signal = AbortSignal.timeout(1000);
    expect(await checkCrds(async () => { throw new Error('404 NotFound'); }, signal)).toMatchObject({ ok: false, detail: '404 NotFound' });
    expect(await checkReady(async () => ({ status: 503, body: 'not ready: caches syncing' }), 'http://x/readyz', signal))
      .toMatchObject({ ok: false, detail: '503 not ready: caches syncing' });
    expect(await checkReady(async () => ({ status: 200, body: 'ok' }), 'http://x/readyz', signal)).toMatchObject({ ok: true });
  });

  it('retries until the check passes or the deadline has passed', async () => {
    let calls = 0;
    const passesThird = async () => ({ name: 'x', ok: ++calls >= 3, detail: String(calls) });
    expect(await retryUntil(passesThird, Date.now() + 5000, 10)).toMatchObject({ ok: true, detail: '3' });
    calls = -1000;
    const t0 = Date.now();
    const last = await retryUntil(passesThird, Date.now() + 200, 20);
    expect(last.ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
