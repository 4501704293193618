// Plain vLLM-shaped pods for a peer controller (no Graft agent): created through the API server,
// placed by the scheduler on the fake GPU nodes, given an address by KWOK, and each run by an
// llm-d-inference-sim inside the pod's own network namespace on the pod's engine port (the same
// simulator and flags Graft's serving pods get from the pod runner).
import { rawRequest } from '../../src/sandbox/raw.js';
import { sandboxNetwork } from '../../src/sandbox/netns.js';
import { PodNetns } from '../../src/sandbox/pod-netns.js';
import { Proc } from '../../src/sandbox/proc.js';
import { waitFor } from '../../src/sandbox/wait.js';
import { toolPath } from '../../test/support/tools.js';
import type { Sandbox } from '../../test/support/sandbox.js';

type Obj = Record<string, any>;

export type VllmPods = {
  ips: string[];
  // LoRA adapters the simulators serve, summed over the pods.
  loadedAdapters(): Promise<number>;
  stop(): Promise<void>;
};

export async function startVllmPods(sb: Pick<Sandbox, 'cp'>, o: {
  ns: string; count: number; port: number; model: string; labels: (i: number) => Record<string, string>; simArgs: string[];
}): Promise<VllmPods> {
  const net = sandboxNetwork();
  const kc = sb.cp.kubeConfig;
  const names = Array.from({ length: o.count }, (_, i) => `vllm-${i}`);
  for (const [i, name] of names.entries()) {
    const r = await rawRequest(kc, 'POST', `/api/v1/namespaces/${o.ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: o.labels(i) },
      spec: {
        containers: [{
          name: 'vllm', image: 'vllm/vllm-openai:v0.10.0', args: ['--model', o.model, '--enable-lora', '--port', String(o.port)],
          ports: [{ name: 'http', containerPort: o.port }], resources: { limits: { 'nvidia.com/gpu': '1' } },
        }],
      },
    });
    if (r.status !== 201) throw new Error(`creating pod ${name}: ${r.text}`);
  }
  let pods: Obj[] = [];
  await waitFor(`${o.count} vLLM pods Running with an address`, async () => {
    const list = (await rawRequest(kc, 'GET', `/api/v1/namespaces/${o.ns}/pods`)).body as Obj;
    pods = (list.items as Obj[]).filter((p) => names.includes(p.metadata.name) && p.status?.phase === 'Running' && p.status?.podIP);
    return pods.length === o.count;
  }, 120_000, 300);

  const sim = toolPath('llm-d-inference-sim');
  const running: Array<{ netns: PodNetns; proc: Proc; url: string }> = [];
  const stop = async () => {
    await Promise.all(running.map(async (r) => { await r.proc.stop(5_000); await r.netns.destroy(); }));
    for (const name of names) await rawRequest(kc, 'DELETE', `/api/v1/namespaces/${o.ns}/pods/${name}?gracePeriodSeconds=0`);
  };
  try {
    for (const p of pods) {
      const key = `${o.ns}/${p.metadata.name}`;
      const netns = await PodNetns.create(net, key, p.metadata.uid, p.status.podIP);
      const [cmd, args] = netns.wrap(sim, ['--port', String(o.port), '--model', o.model, '--force-dummy-tokenizer', ...o.simArgs]);
      running.push({ netns, proc: new Proc(`engine ${key}`, cmd, args), url: `http://${p.status.podIP}:${o.port}` });
    }
    await waitFor('every simulator answering', async () => {
      for (const r of running) {
        if (!r.proc.running) throw new Error(`${r.proc.name} exited:\n${r.proc.output.slice(-2000)}`);
        if (!(await fetch(`${r.url}/v1/models`).catch(() => undefined))?.ok) return false;
      }
      return true;
    }, 60_000, 200);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ips: running.map((r) => r.url),
    async loadedAdapters() {
      let n = 0;
      for (const r of running) {
        const models = (await (await fetch(`${r.url}/v1/models`)).json()) as { data: Array<{ id: string; parent?: string | null }> };
        n += models.data.filter((m) => m.id !== o.model).length;
      }
      return n;
    },
    stop,
  };
}
