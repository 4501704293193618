// adapter_config.json of a PEFT LoRA adapter: the fields the merge engine reads, validated with
// zod (unknown fields are kept), and the per-module scale they imply.
import { z } from 'zod';

const Pattern = z.record(z.string(), z.number().positive());

export const PeftConfigSchema = z.looseObject({
  peft_type: z.string().default('LORA'),
  r: z.number().int().positive().default(8),
  lora_alpha: z.number().positive().default(8),
  use_rslora: z.boolean().nullish().transform((v) => v ?? false),
  rank_pattern: Pattern.nullish().transform((v) => v ?? {}),
  alpha_pattern: Pattern.nullish().transform((v) => v ?? {}),
  target_modules: z.union([z.array(z.string()), z.string()]).nullish(),
  fan_in_fan_out: z.boolean().nullish().transform((v) => v ?? false),
  modules_to_save: z.array(z.string()).nullish(),
  base_model_name_or_path: z.string().nullish(),
  task_type: z.string().nullish(),
  bias: z.string().nullish().transform((v) => v ?? 'none'),
  use_dora: z.boolean().nullish().transform((v) => v ?? false),
  lora_bias: z.boolean().nullish().transform((v) => v ?? false),
});
export type PeftConfig = z.infer<typeof PeftConfigSchema>;

export class AdapterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterError';
  }
}

// Parses and checks the config; `where` names the adapter in messages.
export function parsePeftConfig(text: string, where: string): PeftConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AdapterError(`${where}/adapter_config.json is not valid JSON (${(err as Error).message})`);
  }
  const parsed = PeftConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AdapterError(`${where}/adapter_config.json: field "${issue.path.join('.') || '(root)'}": ${issue.message}`);
  }
  const c = parsed.data;
  if (c.peft_type !== 'LORA') throw new AdapterError(`${where}: peft_type is ${c.peft_type}; only LORA adapters can be merged`);
  if (c.use_dora) throw new AdapterError(`${where}: use_dora is true; DoRA adapters carry a magnitude vector that does not combine linearly, so they cannot be merged — merge plain LoRA adapters`);
  if (c.lora_bias) throw new AdapterError(`${where}: lora_bias is true; adapters with a LoRA bias term cannot be merged — retrain without lora_bias`);
  return c;
}

// The first pattern key that matches the module by suffix, PEFT's rule: (.*\.)?(key)$.
export function matchPattern(pattern: Record<string, number>, module: string): number | undefined {
  for (const [key, value] of Object.entries(pattern)) {
    let hit: boolean;
    try {
      hit = new RegExp(`^(?:.*\\.)?(?:${key})$`).test(module);
    } catch {
      hit = module === key || module.endsWith(`.${key}`);
    }
    if (hit) return value;
  }
  return undefined;
}

export interface ModuleScale {
  rank: number; // the rank the config gives the module
  alpha: number;
  scale: number; // alpha / rank, or alpha / √rank with rslora
}

export function moduleScale(c: PeftConfig, module: string): ModuleScale {
  const rank = matchPattern(c.rank_pattern, module) ?? c.r;
  const alpha = matchPattern(c.alpha_pattern, module) ?? c.lora_alpha;
  return { rank, alpha, scale: c.use_rslora ? alpha / Math.sqrt(rank) : alpha / rank };
}
