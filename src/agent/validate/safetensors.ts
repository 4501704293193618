// The safetensors parser (src/merge/safetensors/header.ts) speaks in messages; the agent reports
// each broken rule of REFERENCE.md §3 with its own reason code. Order matters: the first match wins.
import { parseHeaderLength, SafetensorsError } from '../../merge/safetensors/header.js';
import { AgentFailure, type FailureReason } from '../types.js';

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

// The header length from the file's first 8 bytes, refused (with the reason and the limit named)
// when the agent's cap or the format's own limit is exceeded: before anything of that size is
// downloaded or allocated.
export function checkHeaderLength(prefix: Uint8Array, fileSize: number, label: string, maxHeaderBytes: number): number {
  let n: number;
  try {
    n = parseHeaderLength(prefix, fileSize, label);
  } catch (err) {
    if (err instanceof SafetensorsError) throw new AgentFailure(safetensorsReason(err.message), err.message);
    throw err;
  }
  if (n > maxHeaderBytes) throw headerTooLarge(label, n, maxHeaderBytes);
  return n;
}

export function headerTooLarge(label: string, n: number, maxHeaderBytes: number): AgentFailure {
  return new AgentFailure('SafetensorsHeaderTooLarge', `${label}: the header is ${n} bytes, above the agent's limit of ${maxHeaderBytes} bytes (GRAFT_AGENT_MAX_HEADER_BYTES); a LoRA adapter's header is usually well under 1 MB`);
}
