import { createHash } from 'node:crypto';
import type { BaseModelSpec } from '../../api/basemodel.js';
import { AGENT_ENV, BASE_WEIGHTS_DIR, CACHE_MOUNT, ENGINE_KEY_ENV, ENGINE_KEY_KEY, engineKeySecretName } from '../../contracts/names.js';

// Engine images pinned by tag; spec.engine.image overrides.
export const DEFAULT_IMAGES = {
  vllm: 'vllm/vllm-openai:v0.11.0',
  sglang: 'lmsysorg/sglang:v0.5.3',
} as const;

export const HEALTH_PATH = { vllm: '/health', sglang: '/health' } as const;

export type EnvVar = { name: string; value?: string; valueFrom?: Record<string, unknown> };

// The engine's HOME when it runs as non-root: an emptyDir of its own (the images' HOME is /root,
// which a non-root user cannot write; compilers and kernels cache under HOME).
export const ENGINE_HOME = '/home/graft';

// The staged copy of s3:// base weights, keyed by the source: a changed source stages into a new
// folder instead of swapping files under running engines, and pods sharing a volume reuse a warm
// copy of the same source.
export function baseWeightsDir(uri: string): string {
  return `${BASE_WEIGHTS_DIR}/${createHash('sha256').update(uri).digest('hex').slice(0, 16)}/model`;
}

// The agent's adapter cache. On a volume shared by pods (pvc, hostPath), each pod has its own
// folder, so one pod's cleanup never removes files another pod's engine has loaded; an emptyDir
// is the pod's alone. $(GRAFT_POD_NAME) is expanded by the kubelet from the downward API.
export function adapterCacheDir(spec: BaseModelSpec): string {
  return spec.storage.cache.medium === 'emptyDir' ? `${CACHE_MOUNT}/adapters` : `${CACHE_MOUNT}/pods/$(${AGENT_ENV.podName})/adapters`;
}

// Where the engine reads the base weights from, for each kind of model source.
export function modelPath(spec: BaseModelSpec): string {
  const uri = spec.model.source.uri;
  if (uri.startsWith('s3://')) return baseWeightsDir(uri);
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
  // The kubelet expands $(VAR) from the container's env, so the key never appears in the pod spec.
  if (spec.security.engineAPIKey) common.push('--api-key', `$(${ENGINE_KEY_ENV})`);
  return [...common, ...(spec.engine.args ?? [])];
}

export function engineCommand(spec: BaseModelSpec): string[] | undefined {
  // vLLM's image starts its OpenAI server by default; SGLang's image has no server entry point.
  return spec.engine.type === 'sglang' ? ['python3', '-m', 'sglang.launch_server'] : undefined;
}

// Graft's variables, overridden by the user's of the same name.
export function engineEnv(spec: BaseModelSpec, bmName: string): EnvVar[] {
  const ours: EnvVar[] = spec.engine.type === 'vllm'
    ? [{ name: 'VLLM_ALLOW_RUNTIME_LORA_UPDATING', value: 'true' }, { name: 'HF_HOME', value: `${CACHE_MOUNT}/hf` }]
    : [{ name: 'HF_HOME', value: `${CACHE_MOUNT}/hf` }];
  // A user without a passwd entry: USER keeps getpass (torch's compile cache) from failing.
  if (spec.security.engineNonRoot) ours.push({ name: 'HOME', value: ENGINE_HOME }, { name: 'USER', value: 'graft' });
  if (spec.security.engineAPIKey) {
    ours.push({ name: ENGINE_KEY_ENV, valueFrom: { secretKeyRef: { name: engineKeySecretName(bmName), key: ENGINE_KEY_KEY } } });
  }
  const user = spec.engine.env ?? [];
  const overridden = new Set(user.map((e) => e.name));
  return [...ours.filter((e) => !overridden.has(e.name)), ...user];
}
