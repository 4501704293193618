// safetensors dtypes: their sizes, and conversion of the float ones to and from float32.
// Narrowing to F16 and BF16 rounds to nearest, ties to even, as torch's .to() does.

export const DTYPE_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E4M3: 1, F8_E5M2: 1,
  U16: 2, I16: 2, F16: 2, BF16: 2,
  U32: 4, I32: 4, F32: 4,
  U64: 8, I64: 8, F64: 8,
};

export type FloatDtype = 'F32' | 'F16' | 'BF16';
export const FLOAT_DTYPES: readonly FloatDtype[] = ['F32', 'F16', 'BF16'];

export function isFloatDtype(d: string): d is FloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f16BitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

// float32 bits → float16 bits, round to nearest even.
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 255) return mant ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00;
  const e = exp - 112; // re-biased exponent (127 − 15)
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still right
  return sign | h;
}

// float32 bits → bfloat16 bits, round to nearest even; NaN stays a quiet NaN.
export function f32BitsToBF16(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = f16BitsToFloat(h);
  return t;
})();

// Raw little-endian bytes of one tensor → float32 values (a fresh array).
export function decodeFloats(bytes: Uint8Array, dtype: FloatDtype): Float32Array {
  const n = bytes.byteLength / (dtype === 'F32' ? 4 : 2);
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = F16_TABLE[dv.getUint16(2 * i, true)];
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
  }
  return out;
}

// float32 values (or float64, first rounded to float32) → raw little-endian bytes of `dtype`.
export function encodeFloats(values: Float32Array | Float64Array, dtype: FloatDtype): Uint8Array {
  const n = values.length;
  if (dtype === 'F32') {
    const out = values instanceof Float32Array ? values.slice() : Float32Array.from(values);
    return new Uint8Array(out.buffer);
  }
  const out = new Uint8Array(2 * n);
  const dv = new DataView(out.buffer);
  const conv = dtype === 'F16' ? f32BitsToF16 : f32BitsToBF16;
  for (let i = 0; i < n; i++) {
    f32[0] = values[i];
    dv.setUint16(2 * i, conv(u32[0]), true);
  }
  return out;
}
