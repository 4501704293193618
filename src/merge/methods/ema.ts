// ema (MOS): θ'_t = (1 − α)·θ_t + α·mean(θ_0 … θ_{t−1})
// In delta space, with the inputs ordered oldest first and the newest last, this is a weighted sum
// with weight α/t for each of the t earlier inputs and 1 − α for the newest; it is then merged
// exactly with cat, or to rank r with svd. Weights given by the user multiply these.

export const DEFAULT_EMA_ALPHA = 0.1;

export function emaWeights(n: number, alpha = DEFAULT_EMA_ALPHA): number[] {
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`ema: alpha must lie in [0, 1], got ${alpha}`);
  if (n < 1) throw new Error('ema: needs at least one input');
  if (n === 1) return [1];
  const t = n - 1;
  return Array.from({ length: n }, (_, i) => (i === t ? 1 - alpha : alpha / t));
}
