// The method registry: how each method turns one module's factors into the merged factors, and the
// output rank it needs.
import { catRank, mergeCat } from './cat.js';
import { mergeDare } from './dare.js';
import { mergeLinear } from './linear.js';
import { mergeSvd } from './svd.js';
import { mergeTies } from './ties.js';
import type { MethodParams, ModuleResult, ModuleTask } from './types.js';

export const METHODS = ['cat', 'svd', 'linear', 'ema', 'ties', 'dare'] as const;
export type Method = (typeof METHODS)[number];

// The factor-level algorithm that actually runs (ema runs as cat or svd with its own weights).
export type Kernel = 'cat' | 'svd' | 'linear' | 'ties' | 'dare';

export function runKernel(kernel: Kernel, task: ModuleTask, params: MethodParams): ModuleResult {
  switch (kernel) {
    case 'cat': return mergeCat(task);
    case 'svd': return mergeSvd(task);
    case 'linear': return mergeLinear(task);
    case 'ties': return mergeTies(task, params);
    case 'dare': return mergeDare(task, params);
  }
}

export { catRank };
export type { MethodParams, ModuleResult, ModuleTask };
