// Reading safetensors from any ByteSource: the header with two reads (length, then header), then
// tensors one at a time by range, each only after the header has been fully validated.
import { parseHeader, parseHeaderLength, SafetensorsError, type SafetensorsHeader, type TensorInfo } from './header.js';
import type { ByteSource } from './source.js';
import { decodeFloats, isFloatDtype } from './dtype.js';

export async function readHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const prefix = await src.read(0, Math.min(8, src.size));
  const len = parseHeaderLength(prefix, src.size, src.where);
  const bytes = await src.read(8, len);
  return parseHeader(bytes, src.size, src.where);
}

export async function readTensorBytes(src: ByteSource, header: SafetensorsHeader, t: TensorInfo): Promise<Uint8Array> {
  return src.read(header.dataStart + t.begin, t.end - t.begin);
}

export async function readTensorF32(src: ByteSource, header: SafetensorsHeader, name: string): Promise<Float32Array> {
  const t = header.byName.get(name);
  if (!t) throw new SafetensorsError(src.where, `no tensor named "${name}"`);
  if (!isFloatDtype(t.dtype)) throw new SafetensorsError(src.where, `tensor "${name}" is ${t.dtype}; only F32, F16 and BF16 can be merged`);
  return decodeFloats(await readTensorBytes(src, header, t), t.dtype);
}
