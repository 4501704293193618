import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ENV } from '../../src/contracts/names.js';
import { waitFor } from '../support/ports.js';
import {
  adapterObj, adPath, bmPath, dumpOnFailure, gpt2BaseModel, isReady, kube, loadedPods, NS, startSandbox, waitAdapter, waitPods, type Sandbox,
} from '../support/sandbox.js';

// Issue 9, item 13: disks do not fill with old versions. Once a new version is Loaded, the older
// staged versions of that name leave the pod's cache folder, with or without a disk budget.
describe('old versions leave the disk (issue 9, item 13)', () => {
  let sb: Sandbox;
  beforeAll(async () => {
    sb = await startSandbox();
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'disk/v1/');
    await sb.upload('gpt2-seqcls-c_attn', 'adapters', 'disk/v2/');
    await sb.upload('gpt2-causal-tigrinya', 'adapters', 'disk/v3/', (f, b) => (f === 'adapter_config.json' ? Buffer.from(JSON.stringify({ ...JSON.parse(b.toString()), lora_alpha: 32 })) : b));
    await kube(sb).post(bmPath(), gpt2BaseModel('nobudget', sb.gw, { replicas: 2 }));
    await kube(sb).post(bmPath(), gpt2BaseModel('budget', sb.gw, { replicas: 1, storage: { s3: gpt2BaseModel('x', sb.gw).spec.storage.s3, cache: { medium: 'emptyDir', size: '1Gi' } } }));
    await waitPods(sb, 'nobudget', 2);
    await waitPods(sb, 'budget', 1);
  });
  afterEach(async (c) => dumpOnFailure(sb, c.task.result?.state === 'fail'));
  afterAll(async () => { await sb?.stop(); });

  // The staged versions (digest folders) of `name` in a pod's cache.
  const versionsOn = async (pod: string, name: string) => {
    const rp = sb.runner.pods.get(`${NS}/${pod}`)!;
    return (await readdir(join(rp.agentEnv[AGENT_ENV.cacheDir]!, 'adapters', name)).catch(() => [] as string[])).filter((d) => !d.startsWith('.')).sort();
  };

  for (const bm of ['nobudget', 'budget']) {
    it(`keeps only the Loaded version of a name on disk (${bm === 'budget' ? 'with a 1Gi budget' : 'no budget'})`, async () => {
      const k = kube(sb);
      const name = `d-${bm}`;
      const replicas = bm === 'budget' ? 1 : 2;
      await k.post(adPath(), adapterObj(name, bm, { source: { uri: 's3://adapters/disk/v1/' }, replicas }));
      let a = await waitAdapter(sb, name, 'Ready on v1', (x) => isReady(x, replicas));
      const digests = [a.status.digest as string];
      for (const v of ['v2', 'v3']) {
        await k.patch(adPath(name), { spec: { source: { uri: `s3://adapters/disk/${v}/` } } });
        a = await waitAdapter(sb, name, `Ready on ${v}`, (x) => isReady(x, replicas) && !digests.includes(x!.status.digest));
        digests.push(a.status.digest);
        const want = [a.status.digest.replace(/^sha256:/, '')];
        const t0 = Date.now();
        for (const pod of loadedPods(a)) {
          await waitFor(`${pod}: only ${v} staged`, async () => JSON.stringify(await versionsOn(pod, name)) === JSON.stringify(want), 20_000, 200)
            .catch(async (err: Error) => { throw new Error(`${err.message}; on disk: ${(await versionsOn(pod, name)).join(', ')}`); });
        }
        console.log(`item 13 (${bm}): ${v} Loaded; older versions gone from disk within ${Date.now() - t0} ms`);
      }
      expect(new Set(digests).size).toBe(3);
    });
  }
});
