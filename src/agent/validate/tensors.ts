// What the agent needs from a safetensors header's tensor list: how many tensors, how many are
// LoRA factors, and the rank those factors really have (lora_A is [r, in], lora_embedding_A is
// [r, vocab]).
export interface TensorSummary {
  tensors: number;
  loraTensors: number;
  rank: number;
}

const LORA_TENSOR = /\.lora_(A|B|embedding_A|embedding_B)(\.[^.]+)?\.weight$|\.lora_embedding_[AB](\.[^.]+)?$/;
const RANK_TENSOR = /\.lora_A(\.[^.]+)?\.weight$|\.lora_embedding_A(\.[^.]+)?$/;

export function summarizeTensors(tensors: Iterable<{ name: string; shape: readonly number[] }>): TensorSummary {
  let count = 0;
  let loraTensors = 0;
  let rank = 0;
  for (const t of tensors) {
    count++;
    if (LORA_TENSOR.test(t.name)) loraTensors++;
    if (RANK_TENSOR.test(t.name)) rank = Math.max(rank, t.shape[0] ?? 0);
  }
  return { tensors: count, loraTensors, rank };
}
