import { describe, expect, it } from 'vitest';
import { decodeFloats, encodeFloats, f16BitsToFloat, f32BitsToBF16, f32BitsToF16 } from '../../src/merge/safetensors/dtype.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number) => { f32[0] = x; return u32[0]; };
const floatOf = (b: number) => { u32[0] = b >>> 0; return f32[0]; };

// Reference: the nearest of all finite values of the format, ties to the even bit pattern; values
// at or beyond max + half an ulp become infinity (IEEE overflow under round-to-nearest).
function nearest(x: number, values: Float64Array, bits: Uint16Array, maxFinite: number, halfUlpAtMax: number, infBits: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= maxFinite + halfUlpAtMax) return sign | infBits;
  let lo = 0, hi = values.length - 1;
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (values[mid] <= a) lo = mid; else hi = mid; }
  const dl = a - values[lo], dh = values[hi] - a;
  const pick = dl < dh ? lo : dh < dl ? hi : (bits[lo] & 1 ? hi : lo);
  return sign | bits[pick];
}

function table(decode: (h: number) => number, maxBits: number) {
  const n = maxBits + 1;
  const values = new Float64Array(n), bits = new Uint16Array(n);
  for (let h = 0; h < n; h++) { values[h] = decode(h); bits[h] = h; }
  return { values, bits };
}

const F16 = table(f16BitsToFloat, 0x7bff); // +0 … 65504
const BF16 = table((h) => floatOf(h << 16), 0x7f7f); // +0 … max bf16

function samples(): number[] {
  const out: number[] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3.4e38, 1e-40];
  let s = 12345;
  for (let i = 0; i < 20000; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const b = i % 2 ? s : (s & 0x807fffff) | ((100 + (s % 60)) << 23); // half spread over all bits, half near f16's range
    const x = floatOf(b);
    if (Number.isFinite(x)) out.push(x);
  }
  // exact halfway points between neighbouring f16 values
  for (let h = 0; h < 0x7bff; h += 97) out.push(Math.fround((F16.values[h] + F16.values[h + 1]) / 2));
  return out.map((x) => Math.fround(x));
}

describe('float conversions', () => {
  it('F16 rounds to nearest, ties to even, overflowing to infinity', () => {
    for (const x of samples()) {
      const want = nearest(x, F16.values, F16.bits, 65504, 16, 0x7c00);
      const got = f32BitsToF16(bitsOf(x));
      if (got !== want) throw new Error(`f16(${x}) = ${got.toString(16)}, want ${want.toString(16)}`);
    }
  });

  it('BF16 rounds to nearest, ties to even', () => {
    const maxBf = BF16.values[BF16.values.length - 1];
    for (const x of samples()) {
      const want = nearest(x, BF16.values, BF16.bits, maxBf, 2 ** (127 - 8), 0x7f80);
      const got = f32BitsToBF16(bitsOf(x));
      if (got !== want) throw new Error(`bf16(${x}) = ${got.toString(16)}, want ${want.toString(16)}`);
    }
  });

  it('every F16 and BF16 value survives decode → encode', () => {
    const h = new Uint8Array(65536 * 2);
    const dv = new DataView(h.buffer);
    for (let i = 0; i < 65536; i++) dv.setUint16(2 * i, i, true);
    for (const dt of ['F16', 'BF16'] as const) {
      const back = new DataView(encodeFloats(decodeFloats(h, dt), dt).buffer);
      for (let i = 0; i < 65536; i++) {
        const isNaN = dt === 'F16' ? (i & 0x7c00) === 0x7c00 && (i & 0x3ff) : (i & 0x7f80) === 0x7f80 && (i & 0x7f);
        if (isNaN) expect(Number.isNaN(f16BitsToFloat(back.getUint16(2 * i, true))) || dt === 'BF16').toBe(true);
        else if (back.getUint16(2 * i, true) !== i) throw new Error(`${dt} ${i.toString(16)} came back as ${back.getUint16(2 * i, true).toString(16)}`);
      }
    }
  });

  it('keeps infinities and NaN', () => {
    expect(f32BitsToF16(bitsOf(Infinity))).toBe(0x7c00);
    expect(f32BitsToF16(bitsOf(-Infinity))).toBe(0xfc00);
    expect(f32BitsToF16(bitsOf(NaN)) & 0x7c00).toBe(0x7c00);
    expect(f32BitsToF16(bitsOf(NaN)) & 0x3ff).not.toBe(0);
    expect(f32BitsToBF16(bitsOf(NaN))).toBe(0x7fc0);
    expect(f32BitsToBF16(bitsOf(-Infinity))).toBe(0xff80);
  });
});
