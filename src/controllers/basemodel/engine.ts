import type { BaseModelSpec } from '../../api/basemodel.js';
import { BASE_WEIGHTS_DIR, CACHE_MOUNT } from '../../contracts/names.js';

// Engine images pinned by tag; spec.engine.image overrides.
export const DEFAULT_IMAGES = {
  vllm: 'vllm/vllm-openai:v0.11.0',
  sglang: 'lmsysorg/sglang:v0.5.3',
} as const;

export const HEALTH_PATH = { vllm: '/health', sglang: '/health' } as const;

export type EngineEnv = { name: string; value: string };

// Where the engine reads the base weights from, for each kind of model source.
export function modelPath(spec: BaseModelSpec): string {
  const uri = spec.model.source.uri;
  if (uri.startsWith('s3://')) return `${BASE_WEIGHTS_DIR}/model`;
  if (uri.startsWith('pvc://')) {
    const [claim, ...rest] = uri.slice('pvc://'.length).split('/');
    return `/models/${claim}${rest.length ? `/${rest.join('/')}` : ''}`.replace(/\/+$/, '');
  }
  return uri;
}

export function pvcClaimOf(uri: string): string | undefined {
  return uri.startsWith('pvc://') ? uri.slice('pvc://'.length).split('/')[0] : undefined;
}

// The adapter limits the engine runs with; derived defaults keep maxLoaded ≤ maxCpuLoaded ≤ maxPerPod.
export function adapterLimits(spec: BaseModelSpec): { maxPerPod: number; maxCpuLoaded: number; maxLoaded: number; maxRank: number } {
  const a = spec.adapters;
  const maxCpuLoaded = a.maxCpuLoaded ?? a.maxPerPod;
  const maxLoaded = a.maxLoaded ?? Math.min(4, maxCpuLoaded);
  return { maxPerPod: a.maxPerPod, maxCpuLoaded, maxLoaded, maxRank: a.maxRank };
}

// Arguments Graft sets, then the user's (the engines take the last value of a repeated flag).
export function engineArgs(spec: BaseModelSpec, servedName: string): string[] {
  const lim = adapterLimits(spec);
  const port = String(spec.engine.port);
  const common = spec.engine.type === 'vllm'
    ? [
      '--model', modelPath(spec), '--served-model-name', servedName, '--port', port,
      '--enable-lora', '--max-loras', String(lim.maxLoaded), '--max-cpu-loras', String(lim.maxCpuLoaded),
      '--max-lora-rank', String(lim.maxRank),
    ]
    : [
      '--model-path', modelPath(spec), '--served-model-name', servedName, '--host', '0.0.0.0', '--port', port,
      '--enable-lora', '--lora-target-modules', 'all', '--max-loras-per-batch', String(lim.maxLoaded),
      '--max-loaded-loras', String(lim.maxCpuLoaded), '--max-lora-rank', String(lim.maxRank),
    ];
  return [...common, ...(spec.engine.args ?? [])];
}

export function engineCommand(spec: BaseModelSpec): string[] | undefined {
  // vLLM's image starts its OpenAI server by default; SGLang's image has no server entry point.
  return spec.engine.type === 'sglang' ? ['python3', '-m', 'sglang.launch_server'] : undefined;
}

// Graft's variables, overridden by the user's of the same name.
export function engineEnv(spec: BaseModelSpec): Array<{ name: string; value?: string; valueFrom?: Record<string, unknown> }> {
  const ours: EngineEnv[] = spec.engine.type === 'vllm'
    ? [{ name: 'VLLM_ALLOW_RUNTIME_LORA_UPDATING', value: 'true' }, { name: 'HF_HOME', value: `${CACHE_MOUNT}/hf` }]
    : [{ name: 'HF_HOME', value: `${CACHE_MOUNT}/hf` }];
  const user = spec.engine.env ?? [];
  const overridden = new Set(user.map((e) => e.name));
  return [...ours.filter((e) => !overridden.has(e.name)), ...user];
}
