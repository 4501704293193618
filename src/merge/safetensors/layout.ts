// The reference layout of a safetensors file: tensors sorted by dtype (widest first, as the
// reference writer does), then by name; `__metadata__` first in the header; the header padded with
// spaces to a multiple of 8 bytes so the data section stays aligned.
import { DTYPE_SIZE } from './dtype.js';
import { elementCount } from './header.js';

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
}

export interface Layout {
  prefix: Uint8Array; // the 8-byte length and the padded header
  offsets: Map<string, { begin: number; end: number }>; // absolute file offsets
  order: TensorSpec[]; // data order
  fileSize: number;
}

export function compareForLayout(a: TensorSpec, b: TensorSpec): number {
  const ds = DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype];
  if (ds !== 0) return ds;
  if (a.dtype !== b.dtype) return a.dtype < b.dtype ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function planLayout(specs: readonly TensorSpec[], metadata: Record<string, string> | undefined): Layout {
  const names = new Set<string>();
  for (const s of specs) {
    if (s.name === '__metadata__') throw new Error('a tensor may not be named __metadata__');
    if (names.has(s.name)) throw new Error(`tensor "${s.name}" is listed twice`);
    if (!(s.dtype in DTYPE_SIZE)) throw new Error(`tensor "${s.name}": unknown dtype ${s.dtype}`);
    names.add(s.name);
  }
  const order = [...specs].sort(compareForLayout);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const rel: { begin: number; end: number }[] = [];
  let cursor = 0;
  for (const s of order) {
    const bytes = elementCount(s.shape) * DTYPE_SIZE[s.dtype];
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [cursor, cursor + bytes] };
    rel.push({ begin: cursor, end: cursor + bytes });
    cursor += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const prefix = new Uint8Array(8 + json.length);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(json.length), true);
  prefix.set(json, 8);
  const dataStart = prefix.length;
  const offsets = new Map(order.map((s, i) => [s.name, { begin: dataStart + rel[i].begin, end: dataStart + rel[i].end }]));
  return { prefix, offsets, order, fileSize: dataStart + cursor };
}
