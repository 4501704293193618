// Checks adapter_model.safetensors against REFERENCE.md §3 with the merge engine's header parser,
// reading only the 8-byte length and the header from disk, and names each broken rule with its
// own reason code.
import { open } from 'node:fs/promises';
import { parseHeader, parseHeaderLength, SafetensorsError, type SafetensorsHeader } from '../../merge/safetensors/header.js';
import { AgentFailure, type FailureReason } from '../types.js';

// The parser speaks in messages; map them onto reason codes. Order matters: the first match wins.
const RULES: Array<[RegExp, FailureReason]> = [
  [/above the limit/, 'SafetensorsHeaderTooLarge'],
  [/appears twice/, 'SafetensorsDuplicateTensor'],
  [/overlaps|gap|contiguous|end \d+ is before begin/, 'SafetensorsOffsets'],
  [/needs \d+ bytes but data_offsets span|file is \d+ bytes but/, 'SafetensorsSizeMismatch'],
];

export function safetensorsReason(message: string): FailureReason {
  for (const [re, reason] of RULES) if (re.test(message)) return reason;
  return 'SafetensorsHeaderInvalid';
}

export async function checkSafetensorsFile(path: string, label: string): Promise<SafetensorsHeader> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const prefix = Buffer.alloc(8);
    await fh.read(prefix, 0, Math.min(8, size), 0);
    try {
      const n = parseHeaderLength(prefix, size, label);
      const header = Buffer.alloc(n);
      const { bytesRead } = await fh.read(header, 0, n, 8);
      if (bytesRead !== n) throw new SafetensorsError(label, `short read of the header (${bytesRead} of ${n} bytes)`);
      return parseHeader(header, size, label);
    } catch (err) {
      if (err instanceof SafetensorsError) throw new AgentFailure(safetensorsReason(err.message), err.message);
      throw err;
    }
  } finally {
    await fh.close();
  }
}
