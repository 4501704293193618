// adapter_config.json as the agent needs it: a PEFT LoRA adapter the engine can load. Each refusal
// carries its own reason code.
import { z } from 'zod';
import { AgentFailure } from '../types.js';

const Pattern = z.record(z.string(), z.number().int().positive());

const LoraConfig = z.looseObject({
  peft_type: z.string({ error: 'peft_type is missing; a PEFT LoRA adapter has "peft_type": "LORA"' }),
  r: z.number().int().positive().default(8),
  lora_alpha: z.number().positive().default(8),
  rank_pattern: Pattern.nullish(),
  base_model_name_or_path: z.string().nullish(),
  use_dora: z.boolean().nullish(),
  lora_bias: z.boolean().nullish(),
  use_qalora: z.boolean().nullish(),
  target_parameters: z.array(z.string()).nullish(),
  trainable_token_indices: z.unknown().nullish(),
  layer_replication: z.unknown().nullish(),
});

export interface LoraConfigSummary {
  rank: number; // the highest rank the config gives any module
  baseModel?: string;
}

export function checkPeftConfig(text: string): LoraConfigSummary {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new AgentFailure('InvalidAdapter', `adapter_config.json is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new AgentFailure('InvalidAdapter', 'adapter_config.json is not a JSON object');
  const parsed = LoraConfig.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AgentFailure('InvalidAdapter', `adapter_config.json: field "${issue.path.join('.') || '(root)'}": ${issue.message}`);
  }
  const c = parsed.data;
  if (c.peft_type !== 'LORA') throw new AgentFailure('InvalidAdapter', `adapter_config.json: peft_type is "${c.peft_type}"; only PEFT LoRA adapters (peft_type "LORA") can be served`);
  const unsupported: string[] = [];
  if (c.use_dora) unsupported.push('use_dora (DoRA)');
  if (c.lora_bias) unsupported.push('lora_bias');
  if (c.use_qalora) unsupported.push('use_qalora (QA-LoRA)');
  if (c.target_parameters && c.target_parameters.length > 0) unsupported.push('target_parameters');
  if (c.trainable_token_indices) unsupported.push('trainable_token_indices');
  if (c.layer_replication) unsupported.push('layer_replication');
  if (unsupported.length > 0) {
    throw new AgentFailure('UnsupportedVariant', `adapter_config.json uses ${unsupported.join(', ')}, which the serving engine cannot load; train a plain LoRA adapter`);
  }
  const rank = Math.max(c.r, ...Object.values(c.rank_pattern ?? {}));
  return { rank, baseModel: c.base_model_name_or_path ?? undefined };
}
