// The merge plan, decided before any tensor is read: which inputs contribute to each module and
// with which coefficient, the output rank and dtype, what happens to whole saved tensors, and the
// output adapter_config.json. Pure: every refusal of bad input happens here, with a clear reason.
import { emaWeights } from './methods/ema.js';
import { catRank, type Kernel, type Method, type MethodParams } from './methods/index.js';
import type { PeftConfig } from './peft/config.js';
import type { AdapterLayout, LoraModule } from './peft/adapter.js';
import { isFloatDtype, type FloatDtype } from './safetensors/dtype.js';
import type { TensorInfo } from './safetensors/header.js';
import type { TensorSpec } from './safetensors/layout.js';

export class MergeInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeInputError';
  }
}

export interface MergeOptions {
  method: Method;
  rank?: number;
  weights?: number[];
  alpha?: number; // ema
  density?: number; // ties, dare
  majoritySign?: 'total' | 'frequency';
  seed?: number; // dare
  dropExtraTensors?: boolean;
  dtype?: FloatDtype;
}

export interface PlannedInput {
  where: string;
  config: PeftConfig;
  layout: AdapterLayout;
}

export interface ModulePart { input: number; lora: LoraModule; c: number }

export interface ModulePlan {
  module: string;
  aName: string;
  bName: string;
  out: number;
  in: number;
  parts: ModulePart[];
}

export interface ExtraPlan {
  name: string;
  dtype: string;
  shape: number[];
  parts: { input: number; tensor: TensorInfo; weight: number }[]; // weights sum to 1
}

export interface MergePlan {
  method: Method;
  kernel: Kernel;
  rank: number;
  approximate: boolean;
  weights: number[]; // effective per-input weights (ema's included), before scales
  params: MethodParams;
  recordedParams: Record<string, unknown>; // what the output metadata records
  outputDtype: FloatDtype;
  modules: ModulePlan[];
  extras: ExtraPlan[];
  dropped: string[]; // whole tensors left out by --drop-extra-tensors
  config: Record<string, unknown>;
  tensors: TensorSpec[];
}

export function planMerge(inputs: readonly PlannedInput[], opts: MergeOptions): MergePlan {
  const n = inputs.length;
  if (n === 0) throw new MergeInputError('no inputs: give at least one adapter folder or s3:// prefix');
  if (opts.rank !== undefined && !(Number.isInteger(opts.rank) && opts.rank > 0)) throw new MergeInputError(`--rank must be a positive integer, got ${opts.rank}`);
  const given = opts.weights ?? Array(n).fill(1);
  if (given.length !== n) throw new MergeInputError(`--weights has ${given.length} values for ${n} inputs; give one weight per input`);
  given.forEach((w, i) => { if (!Number.isFinite(w)) throw new MergeInputError(`--weights: value ${i + 1} (${w}) is not a finite number`); });
  const params: MethodParams = {};
  if (opts.method === 'ties' || opts.method === 'dare') {
    const d = opts.density ?? (opts.method === 'ties' ? 0.2 : 0.5);
    if (!(d > 0 && d <= 1)) throw new MergeInputError(`--density must lie in (0, 1], got ${d}`);
    params.density = d;
    if (opts.method === 'ties') params.majoritySign = opts.majoritySign ?? 'total';
    else if (opts.majoritySign) params.majoritySign = opts.majoritySign;
    if (opts.method === 'dare') params.seed = opts.seed ?? 0;
  } else if (opts.density !== undefined || opts.majoritySign !== undefined || opts.seed !== undefined) {
    throw new MergeInputError('--density, --majority-sign and --seed apply only to ties and dare');
  }
  if (opts.alpha !== undefined && opts.method !== 'ema') throw new MergeInputError('--alpha applies only to ema');
  let weights = given;
  const recordedParams: Record<string, unknown> = { ...params };
  if (opts.method === 'ema') {
    const alpha = opts.alpha ?? 0.1;
    recordedParams.alpha = alpha;
    if (!(alpha >= 0 && alpha <= 1)) throw new MergeInputError(`--alpha must lie in [0, 1], got ${alpha}`);
    weights = emaWeights(n, alpha).map((e, i) => e * given[i]);
  }
  checkSameBase(inputs);

  // Modules, in the order of their lora_A tensor names: the order of the files' data sections.
  const byModule = new Map<string, ModulePart[]>();
  inputs.forEach((inp, i) => {
    for (const lora of inp.layout.modules.values()) {
      const parts = byModule.get(lora.module) ?? [];
      parts.push({ input: i, lora, c: weights[i] * lora.scale });
      byModule.set(lora.module, parts);
    }
  });
  const modules: ModulePlan[] = [];
  for (const [module, parts] of byModule) {
    const first = parts[0].lora;
    for (const p of parts) {
      if (p.lora.out !== first.out || p.lora.in !== first.in || p.lora.kind !== first.kind) {
        throw new MergeInputError(`module ${module} has shape ${first.out}×${first.in} (${first.kind}) in ${inputs[parts[0].input].where} but ${p.lora.out}×${p.lora.in} (${p.lora.kind}) in ${inputs[p.input].where}; these adapters were not trained on the same base model architecture`);
      }
    }
    modules.push({ module, aName: first.a.name, bName: first.b.name, out: first.out, in: first.in, parts });
  }
  modules.sort((a, b) => (a.aName < b.aName ? -1 : a.aName > b.aName ? 1 : 0));

  const kernel: Kernel = opts.method === 'ema' ? (opts.rank === undefined ? 'cat' : 'svd') : opts.method;
  const maxInputRank = Math.max(...modules.flatMap((m) => m.parts.map((p) => p.lora.rank)));
  let rank: number;
  if (kernel === 'cat') {
    const need = Math.max(...modules.map((m) => catRank({ factors: m.parts.map((p) => ({ r: p.lora.rank })) as never })));
    if (opts.rank !== undefined && opts.rank < need) throw new MergeInputError(`cat is exact and needs rank ${need} (the sum of the input ranks); --rank ${opts.rank} is too small — use svd to reduce the rank`);
    rank = opts.rank ?? need;
  } else if (kernel === 'linear') {
    for (const m of modules) {
      const ranks = new Set(m.parts.map((p) => p.lora.rank));
      if (ranks.size > 1) throw new MergeInputError(`linear needs every input to have the same rank, but module ${m.module} has ranks ${[...ranks].join(', ')}; use svd or cat`);
    }
    if (opts.rank !== undefined && opts.rank !== maxInputRank) throw new MergeInputError(`linear keeps the input rank (${maxInputRank}); --rank ${opts.rank} cannot apply — use svd to change the rank`);
    rank = maxInputRank;
  } else {
    rank = opts.rank ?? maxInputRank;
  }

  const loraDtypes = new Set(inputs.flatMap((i) => [...i.layout.loraDtypes]));
  const outputDtype: FloatDtype = opts.dtype ?? (loraDtypes.size === 1 ? ([...loraDtypes][0] as FloatDtype) : 'F32');
  const { extras, dropped } = planExtras(inputs, weights, opts);

  const tensors: TensorSpec[] = [];
  for (const m of modules) {
    tensors.push({ name: m.aName, dtype: outputDtype, shape: [rank, m.in] });
    tensors.push({ name: m.bName, dtype: outputDtype, shape: [m.out, rank] });
  }
  for (const e of extras) tensors.push({ name: e.name, dtype: e.dtype, shape: e.shape });

  return {
    method: opts.method, kernel, rank, approximate: kernel === 'linear', weights, params, recordedParams, outputDtype,
    modules, extras, dropped, config: outputConfig(inputs, rank, extras.length > 0), tensors,
  };
}

function checkSameBase(inputs: readonly PlannedInput[]): void {
  const known = inputs.filter((i) => i.config.base_model_name_or_path);
  const names = new Set(known.map((i) => i.config.base_model_name_or_path));
  if (names.size > 1) {
    const list = known.map((i) => `${i.config.base_model_name_or_path} (${i.where})`).join(', ');
    throw new MergeInputError(`inputs have different base models: ${list}; adapters can only be merged when they were trained on the same base model`);
  }
  const bias = new Set(inputs.map((i) => i.config.bias));
  if (bias.size > 1) throw new MergeInputError(`inputs disagree on "bias" (${[...bias].join(', ')}); merge adapters trained with the same bias setting`);
}

function planExtras(inputs: readonly PlannedInput[], weights: number[], opts: MergeOptions): { extras: ExtraPlan[]; dropped: string[] } {
  const names = new Map<string, { input: number; tensor: TensorInfo }[]>();
  inputs.forEach((inp, i) => {
    for (const t of inp.layout.extras) {
      const list = names.get(t.name) ?? [];
      list.push({ input: i, tensor: t });
      names.set(t.name, list);
    }
  });
  const extras: ExtraPlan[] = [];
  const dropped: string[] = [];
  const total = weights.reduce((s, w) => s + w, 0);
  for (const [name, list] of [...names].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const first = list[0].tensor;
    let problem: string | undefined;
    if (list.length < inputs.length) {
      const missing = inputs.map((inp, i) => (list.some((x) => x.input === i) ? undefined : inp.where)).filter(Boolean);
      problem = `is saved whole (modules_to_save) by only some inputs; missing from ${missing.join(', ')}`;
    } else if (list.some((x) => x.tensor.shape.join(',') !== first.shape.join(','))) {
      problem = `has different shapes across inputs (${list.map((x) => `[${x.tensor.shape.join(', ')}]`).join(' vs ')})`;
    } else if (list.some((x) => !isFloatDtype(x.tensor.dtype))) {
      problem = `is ${list.find((x) => !isFloatDtype(x.tensor.dtype))!.tensor.dtype}, which cannot be averaged`;
    } else if (total === 0) {
      problem = 'would be averaged with weights that sum to 0';
    }
    if (problem) {
      if (opts.dropExtraTensors) { dropped.push(name); continue; }
      throw new MergeInputError(`tensor "${name}" ${problem}; whole tensors are averaged only when every input has them with the same shape — pass --drop-extra-tensors to leave it out of the merge`);
    }
    const dtypes = new Set(list.map((x) => x.tensor.dtype));
    extras.push({
      name,
      dtype: dtypes.size === 1 ? first.dtype : 'F32',
      shape: first.shape,
      parts: list.map((x) => ({ input: x.input, tensor: x.tensor, weight: weights[x.input] / total })),
    });
  }
  return { extras, dropped };
}

// A valid PEFT config for the result: the scale is baked into the factors, so lora_alpha = r and
// use_rslora is off (inheriting rslora would rescale the merged delta by √r / r).
function outputConfig(inputs: readonly PlannedInput[], rank: number, keepsExtras: boolean): Record<string, unknown> {
  const cfgs = inputs.map((i) => i.config);
  const same = <T>(pick: (c: PeftConfig) => T): T | null => {
    const vals = new Set(cfgs.map((c) => JSON.stringify(pick(c) ?? null)));
    return vals.size === 1 ? (pick(cfgs[0]) ?? null) : null;
  };
  const lists = cfgs.map((c) => c.target_modules).filter((t) => t !== undefined && t !== null);
  let targets: string[] | string | null = null;
  if (lists.length > 0) {
    if (lists.every((t) => Array.isArray(t))) {
      targets = [...new Set((lists as string[][]).flat())].sort();
    } else {
      // A regex among them: one regex that matches what any input targeted (PEFT full-matches it).
      const alts = lists.map((t) => (Array.isArray(t) ? `(?:.*\\.)?(?:${t.map(escapeRegex).join('|')})` : `(?:${t})`));
      targets = [...new Set(alts)].join('|');
    }
  }
  const modulesToSave = keepsExtras ? [...new Set(cfgs.flatMap((c) => c.modules_to_save ?? []))].sort() : [];
  return {
    peft_type: 'LORA',
    base_model_name_or_path: cfgs.find((c) => c.base_model_name_or_path)?.base_model_name_or_path ?? null,
    revision: same((c) => c.revision as unknown) ?? null,
    task_type: same((c) => c.task_type),
    inference_mode: true,
    r: rank,
    lora_alpha: rank,
    use_rslora: false,
    rank_pattern: {},
    alpha_pattern: {},
    target_modules: targets,
    fan_in_fan_out: cfgs.some((c) => c.fan_in_fan_out),
    modules_to_save: modulesToSave.length > 0 ? modulesToSave : null,
    bias: cfgs[0].bias,
    lora_dropout: 0,
    use_dora: false,
    lora_bias: false,
    init_lora_weights: true,
  };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
