// The safetensors parser (src/merge/safetensors/header.ts) speaks in messages; the agent reports
// each broken rule of REFERENCE.md §3 with its own reason code. Order matters: the first match wins.
import type { FailureReason } from '../types.js';

const RULES: Array<[RegExp, FailureReason]> = [
  [/above the (agent's )?limit/, 'SafetensorsHeaderTooLarge'],
  [/appears twice/, 'SafetensorsDuplicateTensor'],
  [/overlaps|gap|contiguous|end \d+ is before begin/, 'SafetensorsOffsets'],
  [/needs \d+ bytes but data_offsets span|file is \d+ bytes but/, 'SafetensorsSizeMismatch'],
];

export function safetensorsReason(message: string): FailureReason {
  for (const [re, reason] of RULES) if (re.test(message)) return reason;
  return 'SafetensorsHeaderInvalid';
}
