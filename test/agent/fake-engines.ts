// Local HTTP fakes that answer exactly as vLLM and SGLang do (REFERENCE.md §2 and their sources),
// for the error paths the simulator cannot show.
import Fastify, { type FastifyInstance } from 'fastify';

export interface FakeEngine {
  url: string;
  loaded: Map<string, string>; // name → path
  calls: Array<{ path: string; body: Record<string, unknown> }>;
  // GET /v1/models answered.
  lists: number;
  // TCP connections accepted.
  connections?: number;
  // The next POST answers this (status, JSON body) once.
  failNext?: { status: number; body: unknown };
  // Requests refused for a missing or wrong API key.
  refused?: number;
  close(): Promise<void>;
}

// `--api-key`: vLLM checks "Authorization: Bearer <key>" on every /v1 path, SGLang on every path
// but /health* and /metrics*; both answer 401 {"error": "Unauthorized"} (their middlewares).
function guard(app: FastifyInstance, apiKey: string | undefined, guarded: (path: string) => boolean, fake: Omit<FakeEngine, 'url' | 'close'>): void {
  if (!apiKey) return;
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (req.method === 'OPTIONS' || !guarded(path)) return;
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      fake.refused = (fake.refused ?? 0) + 1;
      return reply.code(401).send({ error: 'Unauthorized' });
    }
  });
}

async function listen(app: FastifyInstance, fake: Omit<FakeEngine, 'url' | 'close'>): Promise<FakeEngine> {
  fake.connections = 0;
  app.server.on('connection', () => { fake.connections!++; });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return Object.assign(fake, { url, close: () => app.close() });
}

// vLLM ≥ 0.8 (error shape {"error": {...}}) or older (flat {"object": "error", ...});
// `inplace: false` plays a vLLM that predates load_inplace.
export async function startFakeVllm(opts: { shape?: 'nested' | 'flat'; inplace?: boolean; model?: string; apiKey?: string } = {}): Promise<FakeEngine> {
  const shape = opts.shape ?? 'nested';
  const inplace = opts.inplace ?? true;
  const model = opts.model ?? 'base';
  const app = Fastify();
  const fake: Omit<FakeEngine, 'url' | 'close'> = { loaded: new Map(), calls: [], lists: 0 };
  guard(app, opts.apiKey, (path) => path.startsWith('/v1'), fake);
  const error = (message: string, type: string, code: number) =>
    shape === 'nested' ? { error: { message, type, param: null, code } } : { object: 'error', message, type, param: null, code };
  app.get('/v1/models', async () => (fake.lists++, {
    object: 'list',
    data: [
      { id: model, object: 'model', created: 1, owned_by: 'vllm', root: `/models/${model}`, parent: null, max_model_len: 2048, permission: [] },
      ...[...fake.loaded].map(([id, root]) => ({ id, object: 'model', created: 1, owned_by: 'vllm', root, parent: model, max_model_len: null, permission: [] })),
    ],
  }));
  app.post('/v1/load_lora_adapter', async (req, reply) => {
    const b = req.body as { lora_name?: string; lora_path?: string; load_inplace?: boolean };
    fake.calls.push({ path: '/v1/load_lora_adapter', body: b as Record<string, unknown> });
    if (fake.failNext) { const f = fake.failNext; fake.failNext = undefined; return reply.code(f.status).send(f.body); }
    if (!b.lora_name || !b.lora_path) return reply.code(400).send(error("Both 'lora_name' and 'lora_path' must be provided.", 'InvalidUserInput', 400));
    if (fake.loaded.has(b.lora_name) && !(inplace && b.load_inplace)) {
      const msg = inplace
        ? `The lora adapter '${b.lora_name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`
        : `The lora adapter '${b.lora_name}' has already been loaded.`;
      return reply.code(400).send(error(msg, 'InvalidUserInput', 400));
    }
    if (b.lora_path.includes('missing')) {
      return reply.code(404).send(error(`Loading lora ${b.lora_name} failed: No adapter found for ${b.lora_path}`, 'NotFoundError', 404));
    }
    fake.loaded.set(b.lora_name, b.lora_path);
    return reply.code(200).type('text/plain').send(`Success: LoRA adapter '${b.lora_name}' added successfully.`);
  });
  app.post('/v1/unload_lora_adapter', async (req, reply) => {
    const b = req.body as { lora_name?: string };
    fake.calls.push({ path: '/v1/unload_lora_adapter', body: b as Record<string, unknown> });
    if (fake.failNext) { const f = fake.failNext; fake.failNext = undefined; return reply.code(f.status).send(f.body); }
    if (!b.lora_name || !fake.loaded.has(b.lora_name)) {
      return reply.code(404).send(error(`The lora adapter '${b.lora_name}' cannot be found.`, 'NotFoundError', 404));
    }
    fake.loaded.delete(b.lora_name);
    return reply.code(200).type('text/plain').send(`Success: LoRA adapter '${b.lora_name}' removed successfully.`);
  });
  return listen(app, fake);
}

// SGLang: {success, error_message, loaded_adapters} with 200 on success, 400 otherwise.
export async function startFakeSglang(opts: { model?: string; apiKey?: string } = {}): Promise<FakeEngine> {
  const model = opts.model ?? 'base';
  const app = Fastify();
  const fake: Omit<FakeEngine, 'url' | 'close'> = { loaded: new Map(), calls: [], lists: 0 };
  guard(app, opts.apiKey, (path) => !path.startsWith('/health') && !path.startsWith('/metrics'), fake);
  const names = () => `dict_keys([${[...fake.loaded.keys()].map((k) => `'${k}'`).join(', ')}])`;
  app.get('/v1/models', async () => (fake.lists++, {
    object: 'list',
    data: [
      { id: model, object: 'model', created: 1, owned_by: 'sglang', root: model, max_model_len: 4096 },
      ...[...fake.loaded].map(([id, root]) => ({ id, object: 'model', created: 1, owned_by: 'sglang', root, parent: model, max_model_len: null })),
    ],
  }));
  app.post('/load_lora_adapter', async (req, reply) => {
    const b = req.body as { lora_name: string; lora_path: string };
    fake.calls.push({ path: '/load_lora_adapter', body: b as Record<string, unknown> });
    if (fake.failNext) { const f = fake.failNext; fake.failNext = undefined; return reply.code(f.status).send(f.body); }
    if (fake.loaded.has(b.lora_name)) {
      return reply.code(400).send({ success: false, error_message: `LoRA with name ${b.lora_name} already exists. Loaded LoRAs: ${names()}`, loaded_adapters: null });
    }
    fake.loaded.set(b.lora_name, b.lora_path);
    return reply.code(200).send({ success: true, error_message: null, loaded_adapters: Object.fromEntries(fake.loaded) });
  });
  app.post('/unload_lora_adapter', async (req, reply) => {
    const b = req.body as { lora_name: string };
    fake.calls.push({ path: '/unload_lora_adapter', body: b as Record<string, unknown> });
    if (fake.failNext) { const f = fake.failNext; fake.failNext = undefined; return reply.code(f.status).send(f.body); }
    if (!fake.loaded.has(b.lora_name)) {
      return reply.code(400).send({ success: false, error_message: `LoRA with name ${b.lora_name} does not exist. Loaded LoRAs: ${names()}`, loaded_adapters: null });
    }
    fake.loaded.delete(b.lora_name);
    return reply.code(200).send({ success: true, error_message: null, loaded_adapters: Object.fromEntries(fake.loaded) });
  });
  return listen(app, fake);
}
