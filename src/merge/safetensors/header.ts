// The safetensors header: parsing and every validation rule of the format (REFERENCE.md §3), done
// before any tensor byte is trusted or any buffer is sized from what the header claims.
import { z } from 'zod';
import { DTYPE_SIZE } from './dtype.js';

export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(readonly where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number; // offsets relative to the start of the data section
  end: number;
}

export interface SafetensorsHeader {
  headerLength: number; // N
  dataStart: number; // 8 + N
  tensors: TensorInfo[]; // in header order
  byName: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

const TensorEntry = z.strictObject({
  dtype: z.string().refine((d) => d in DTYPE_SIZE, { message: 'unknown dtype' }),
  shape: z.array(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
  data_offsets: z.tuple([z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]),
});
const Metadata = z.record(z.string(), z.string());

// The 8-byte little-endian length prefix. Refuses lengths the file cannot hold or the format
// forbids, before anything of that size is allocated.
export function parseHeaderLength(prefix: Uint8Array, fileSize: number, where: string): number {
  if (fileSize < 8 || prefix.byteLength < 8) throw new SafetensorsError(where, `file is ${fileSize} bytes, shorter than the 8-byte header length`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(where, `header length ${n} is above the limit of ${MAX_HEADER_BYTES} bytes`);
  const len = Number(n);
  if (len < 2) throw new SafetensorsError(where, `header length ${len} is too small to hold a JSON object`);
  if (8 + len > fileSize) throw new SafetensorsError(where, `header length ${len} runs past the end of the ${fileSize}-byte file`);
  return len;
}

// The top-level keys of a JSON object, in order, read from the raw text: JSON.parse keeps only
// the last of duplicated keys, so duplicates can only be seen here.
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 1 && ch === '{') expectKey = true;
    } else if (ch === '}' || ch === ']') {
      depth--;
    } else if (ch === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}

// Validates the header text against the file size. `headerBytes` must be exactly N bytes.
export function parseHeader(headerBytes: Uint8Array, fileSize: number, where: string): SafetensorsHeader {
  const len = headerBytes.byteLength;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(where, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError(where, 'header does not start with a JSON object');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SafetensorsError(where, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(where, 'header is not a JSON object');
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new SafetensorsError(where, `tensor name "${k}" appears twice in the header`);
    seen.add(k);
  }

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      const m = Metadata.safeParse(value);
      if (!m.success) throw new SafetensorsError(where, '__metadata__ must map strings to strings');
      metadata = m.data;
      continue;
    }
    const t = TensorEntry.safeParse(value);
    if (!t.success) {
      const issue = t.error.issues[0];
      throw new SafetensorsError(where, `tensor "${name}": ${issue.path.join('.') || 'entry'}: ${issue.message}`);
    }
    const [begin, end] = t.data.data_offsets;
    if (end < begin) throw new SafetensorsError(where, `tensor "${name}": data_offsets end ${end} is before begin ${begin}`);
    const bytes = elementCount(t.data.shape) * DTYPE_SIZE[t.data.dtype];
    if (bytes !== end - begin) {
      throw new SafetensorsError(where, `tensor "${name}": shape [${t.data.shape.join(', ')}] of ${t.data.dtype} needs ${bytes} bytes but data_offsets span ${end - begin}`);
    }
    tensors.push({ name, dtype: t.data.dtype, shape: t.data.shape, begin, end });
  }

  // Offsets must tile [0, dataEnd) exactly: contiguous from 0, no gaps, no overlaps.
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.begin !== cursor) {
      throw new SafetensorsError(where, t.begin < cursor
        ? `tensor "${t.name}" overlaps the tensor before it (begins at ${t.begin}, previous ends at ${cursor})`
        : `tensor "${t.name}" begins at ${t.begin}, leaving a gap after ${cursor}: offsets must be contiguous from 0`);
    }
    cursor = t.end;
  }
  const expected = 8 + len + cursor;
  if (fileSize !== expected) {
    throw new SafetensorsError(where, `file is ${fileSize} bytes but header length and data_offsets say ${expected}`);
  }
  return { headerLength: len, dataStart: 8 + len, tensors, byName: new Map(tensors.map((t) => [t.name, t])), metadata };
}
