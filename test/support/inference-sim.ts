// The vLLM simulator (llm-d-inference-sim) for tests, on a free port with LoRA enabled. Note: it
// listens on every interface (it has no bind-address flag); tests only ever talk to 127.0.0.1.
import { freePort, waitFor } from './ports.js';
import { Proc } from './process.js';
import { toolPath } from './tools.js';

export interface InferenceSim {
  url: string;
  port: number;
  model: string;
  // Adapter ids listed by /v1/models (the base model left out).
  loras(): Promise<string[]>;
  output(): string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
}

export async function startInferenceSim(opts: { model?: string; maxLoras?: number; maxCpuLoras?: number } = {}): Promise<InferenceSim> {
  const model = opts.model ?? 'gpt2';
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const maxLoras = opts.maxLoras ?? 4;
  const args = [
    '--port', String(port), '--model', model, '--force-dummy-tokenizer',
    '--max-loras', String(maxLoras), '--max-cpu-loras', String(opts.maxCpuLoras ?? Math.max(maxLoras, 8)),
  ];
  const bin = toolPath('llm-d-inference-sim');
  let proc: Proc | undefined;
  let log = '';

  const models = async (): Promise<Array<{ id: string; parent: string | null }>> => {
    const r = await fetch(`${url}/v1/models`, { signal: AbortSignal.timeout(2000) });
    if (!r.ok) throw new Error(`/v1/models answered ${r.status}`);
    return ((await r.json()) as { data: Array<{ id: string; parent: string | null }> }).data;
  };

  const sim: InferenceSim = {
    url, port, model,
    loras: async () => (await models()).filter((m) => m.parent !== null).map((m) => m.id),
    output: () => log + (proc?.output ?? ''),
    async start() {
      if (proc?.running) return;
      proc = new Proc('inference-sim', bin, args);
      const p = proc;
      await waitFor('llm-d-inference-sim to serve /v1/models', async () => {
        if (!p.running) throw new Error(`llm-d-inference-sim exited: ${p.output.slice(-2000)}`);
        await models();
        return true;
      }, 20_000, 50).catch(async (err: unknown) => {
        await p.kill();
        throw err;
      });
    },
    async stop() {
      if (!proc) return;
      log += proc.output;
      await proc.stop();
      proc = undefined;
    },
    async kill() {
      if (!proc) return;
      log += proc.output;
      await proc.kill();
      proc = undefined;
    },
    async restart() {
      await sim.stop();
      await sim.start();
    },
  };
  await sim.start();
  return sim;
}
