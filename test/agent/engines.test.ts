import { afterEach, describe, expect, it } from 'vitest';
import { SglangClient } from '../../src/agent/engines/sglang.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EngineRejectedError, EngineUnavailableError, EngineUnreachableError } from '../../src/agent/engines/types.js';
import { VllmClient } from '../../src/agent/engines/vllm.js';
import { freePort } from '../support/ports.js';
import { startFakeSglang, startFakeVllm, type FakeEngine } from './fake-engines.js';

let fake: FakeEngine | undefined;
afterEach(async () => { await fake?.close(); fake = undefined; });

describe.each(['nested', 'flat'] as const)('VllmClient against vLLM answers (%s error shape)', (shape) => {
  it('lists adapters with their paths, not the base model', async () => {
    fake = await startFakeVllm({ shape });
    fake.loaded.set('a1', '/cache/a1');
    expect(await new VllmClient(fake.url).list()).toEqual([{ name: 'a1', path: '/cache/a1' }]);
  });

  it('loads, then reports a second load of the name as already loaded (400)', async () => {
    fake = await startFakeVllm({ shape });
    const c = new VllmClient(fake.url);
    expect(await c.load('a1', '/cache/a1/v1')).toBe('loaded');
    expect(await c.load('a1', '/cache/a1/v2')).toBe('already-loaded');
    expect(fake.loaded.get('a1')).toBe('/cache/a1/v1');
  });

  it('replaces with load_inplace', async () => {
    fake = await startFakeVllm({ shape });
    const c = new VllmClient(fake.url);
    await c.load('a1', '/cache/a1/v1');
    expect(await c.load('a1', '/cache/a1/v2', { replace: true })).toBe('loaded');
    expect(fake.calls.at(-1)!.body).toEqual({ lora_name: 'a1', lora_path: '/cache/a1/v2', load_inplace: true });
    expect(fake.loaded.get('a1')).toBe('/cache/a1/v2');
  });

  it('treats 404 on unload as absent', async () => {
    fake = await startFakeVllm({ shape });
    const c = new VllmClient(fake.url);
    expect(await c.unload('nobody')).toBe('absent');
    await c.load('a1', '/p');
    expect(await c.unload('a1')).toBe('unloaded');
  });

  it('refuses on 4xx with the engine message, and is unavailable on 5xx', async () => {
    fake = await startFakeVllm({ shape });
    const c = new VllmClient(fake.url);
    const e1 = await c.load('a1', '/cache/missing').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(EngineRejectedError);
    expect((e1 as Error).message).toMatch(/No adapter found for \/cache\/missing/);
    fake.failNext = { status: 500, body: shape === 'nested' ? { error: { message: 'CUDA out of memory', type: 'InternalServerError', param: null, code: 500 } } : { object: 'error', message: 'CUDA out of memory', type: 'InternalServerError', param: null, code: 500 } };
    const e2 = await c.load('a1', '/p').catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(EngineUnavailableError);
    expect((e2 as Error).message).toMatch(/CUDA out of memory/);
  });
});

describe('VllmClient', () => {
  it('is unavailable when nothing listens', async () => {
    const c = new VllmClient(`http://127.0.0.1:${await freePort()}`);
    await expect(c.list()).rejects.toBeInstanceOf(EngineUnavailableError);
    expect(await c.ready()).toBe(false);
  });

  it('counts an engine that does not answer in time as unavailable (an attempt), and one that cuts its answer as unreachable', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/v1/load_lora_adapter') return; // never answers
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"data": [');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const c = new VllmClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 300);
      const slow = await c.load('a', '/p').catch((e: unknown) => e);
      expect(slow).toBeInstanceOf(EngineUnavailableError);
      expect(slow).not.toBeInstanceOf(EngineUnreachableError);
      expect((slow as Error).message).toMatch(/did not answer within 300 ms/);
      const cut = await c.list().catch((e: unknown) => e);
      expect(cut).toBeInstanceOf(EngineUnreachableError);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps one connection to the engine across calls', async () => {
    fake = await startFakeVllm();
    const c = new VllmClient(fake.url);
    for (let i = 0; i < 5; i++) await c.list();
    await c.load('a1', '/p/a1');
    await c.unload('a1');
    expect(fake.connections).toBe(1);
  });
});

describe('SglangClient against SGLang answers', () => {
  it('loads, lists and reports duplicates as already loaded', async () => {
    fake = await startFakeSglang();
    const c = new SglangClient(fake.url);
    expect(await c.load('a1', '/cache/a1/v1')).toBe('loaded');
    expect(await c.list()).toEqual([{ name: 'a1', path: '/cache/a1/v1' }]);
    expect(await c.load('a1', '/cache/a1/v2')).toBe('already-loaded');
  });

  it('replaces by unloading first (SGLang has no in-place load)', async () => {
    fake = await startFakeSglang();
    const c = new SglangClient(fake.url);
    await c.load('a1', '/v1');
    expect(await c.load('a1', '/v2', { replace: true })).toBe('loaded');
    expect(fake.calls.map((x) => x.path)).toEqual(['/load_lora_adapter', '/unload_lora_adapter', '/load_lora_adapter']);
    expect(fake.loaded.get('a1')).toBe('/v2');
  });

  it('treats "does not exist" (400) on unload as absent', async () => {
    fake = await startFakeSglang();
    expect(await new SglangClient(fake.url).unload('nobody')).toBe('absent');
  });

  it('refuses on success=false with the error message', async () => {
    fake = await startFakeSglang();
    fake.failNext = { status: 400, body: { success: false, error_message: 'LoRA adapter rank 64 exceeds max_lora_rank 16', loaded_adapters: null } };
    const e = await new SglangClient(fake.url).load('a1', '/p').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineRejectedError);
    expect((e as Error).message).toMatch(/exceeds max_lora_rank/);
  });
});

describe('engine API key (--api-key)', () => {
  it('vLLM: sends the key as a bearer token on every call; without it the engine refuses and the error says why', async () => {
    fake = await startFakeVllm({ apiKey: 'k3y-123' });
    let key = 'k3y-123';
    const c = new VllmClient({ url: fake.url, apiKey: () => key });
    expect(await c.load('a1', '/cache/a1')).toBe('loaded');
    expect(await c.list()).toEqual([{ name: 'a1', path: '/cache/a1' }]);
    expect(await c.unload('a1')).toBe('unloaded');
    expect(fake.refused ?? 0).toBe(0);

    key = 'rotated-but-wrong';
    const wrong = await c.load('a1', '/cache/a1').catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(EngineUnavailableError);
    expect((wrong as Error).message).toMatch(/refused the agent's API key \(HTTP 401\).*differs from the engine's --api-key/);
    const none = await new VllmClient(fake.url).list().catch((e: unknown) => e);
    expect((none as Error).message).toMatch(/GRAFT_AGENT_ENGINE_API_KEY_FILE/);
    expect(await new VllmClient(fake.url).ready()).toBe(false);
    expect(fake.refused).toBe(3);
    expect(fake.loaded.size).toBe(0);
  });

  it('SGLang: the same on its unprefixed LoRA paths', async () => {
    fake = await startFakeSglang({ apiKey: 'k3y-456' });
    const c = new SglangClient({ url: fake.url, apiKey: () => 'k3y-456' });
    expect(await c.load('a1', '/cache/a1')).toBe('loaded');
    expect(await c.list()).toEqual([{ name: 'a1', path: '/cache/a1' }]);
    const e = await new SglangClient(fake.url).unload('a1').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineUnavailableError);
    expect(fake.loaded.has('a1')).toBe(true);
  });
});
