import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsError, parseHeader, parseHeaderLength } from '../../src/merge/safetensors/header.js';
import { readHeader, readTensorBytes, readTensorF32 } from '../../src/merge/safetensors/reader.js';
import { BufferSource, FileSource, type ByteSource } from '../../src/merge/safetensors/source.js';
import { SafetensorsFileWriter, serializeSafetensors } from '../../src/merge/safetensors/writer.js';
import { decodeFloats, encodeFloats } from '../../src/merge/safetensors/dtype.js';
import { ALL_FIXTURES } from './fixtures.js';

const tmp = await mkdtemp(join(tmpdir(), 'graft-st-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

async function readAll(src: ByteSource) {
  const header = await readHeader(src);
  const tensors = [];
  for (const t of header.tensors) tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: await readTensorBytes(src, header, t) });
  return { header, tensors };
}

describe('round trip of every fixture', () => {
  for (const dir of ALL_FIXTURES) {
    it(`${basename(dir)}: read → write → read is lossless, byte for byte`, async () => {
      const path = join(dir, 'adapter_model.safetensors');
      const original = await readFile(path);
      const src = await FileSource.open(path);
      const { header, tensors } = await readAll(src);
      await src.close();
      expect(header.metadata).toEqual({ format: 'pt' });
      const bytes = serializeSafetensors(tensors, header.metadata);
      expect(Buffer.compare(Buffer.from(bytes), original)).toBe(0);

      // The positional writer, fed in reverse order, gives the same file.
      const out = join(tmp, `${basename(dir)}.safetensors`);
      const w = await SafetensorsFileWriter.create(out, tensors, header.metadata);
      for (const t of [...tensors].reverse()) await w.write(t.name, t.bytes);
      await w.finish();
      expect(Buffer.compare(await readFile(out), original)).toBe(0);

      const again = await readAll(new BufferSource('copy', bytes));
      expect(again.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(tensors.map((t) => [t.name, t.dtype, t.shape]));
    });
  }

  it('F16 and BF16 copies read back to the values they were rounded to', async () => {
    const src = await FileSource.open(join(ALL_FIXTURES[0], 'adapter_model.safetensors'));
    const header = await readHeader(src);
    const name = header.tensors[1].name;
    const values = await readTensorF32(src, header, name);
    await src.close();
    for (const dt of ['F16', 'BF16'] as const) {
      const bytes = encodeFloats(values, dt);
      const file = serializeSafetensors([{ name, dtype: dt, shape: header.byName.get(name)!.shape, bytes }]);
      const back = new BufferSource('x', file);
      const h = await readHeader(back);
      const got = await readTensorF32(back, h, name);
      expect(Array.from(got)).toEqual(Array.from(decodeFloats(bytes, dt)));
      const tol = dt === 'F16' ? 2 ** -11 : 2 ** -8;
      for (let i = 0; i < values.length; i++) expect(Math.abs(got[i] - values[i])).toBeLessThanOrEqual(Math.abs(values[i]) * tol + 2 ** -24);
    }
  });

  it('writes the reference layout: sorted by dtype width then name, header padded to 8', () => {
    const bytes = serializeSafetensors([
      { name: 'b', dtype: 'F16', shape: [1], bytes: new Uint8Array(2) },
      { name: 'a', dtype: 'F16', shape: [1], bytes: new Uint8Array(2) },
      { name: 'z', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) },
    ], { k: 'v' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = Buffer.from(bytes.subarray(8, 8 + n)).toString();
    expect(text).toMatch(/^\{"__metadata__":\{"k":"v"\},"z":.*"a":.*"b":/);
    expect(JSON.parse(text).z.data_offsets).toEqual([0, 4]);
  });
});

// ---- malformed files ---------------------------------------------------------------------

function fileWith(headerText: string, dataBytes: number, claimed?: bigint): Uint8Array {
  const h = Buffer.from(headerText);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, claimed ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

// A source that records every read, to prove nothing is read (or allocated) at a claimed size.
class SpySource extends BufferSource {
  readonly reads: number[] = [];
  override async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads.push(length);
    return super.read(offset, length);
  }
}

const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]}}';

const MALFORMED: [string, Uint8Array, RegExp][] = [
  ['header length above 100 MB', fileWith(ok, 16, 100_000_001n), /above the limit/],
  ['header length 2^63', fileWith(ok, 16, 1n << 63n), /above the limit/],
  ['header length past the end of the file', fileWith(ok, 16, 5000n), /runs past the end/],
  ['header length too small', fileWith(ok, 16, 1n), /too small/],
  ['file shorter than 8 bytes', new Uint8Array(5), /shorter than the 8-byte/],
  ['header not UTF-8', fileWith('{"\xff":1}', 0).map((b, i) => (i === 10 ? 0xff : b)), /UTF-8/],
  ['header not JSON', fileWith('{"a":', 0), /not valid JSON/],
  ['header a JSON array', fileWith('[1,2]   ', 0), /JSON object/],
  ['duplicate tensor names', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /appears twice/],
  ['duplicate names hidden by escapes', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /appears twice/],
  ['offsets with a gap', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', 12), /gap/],
  ['offsets not starting at 0', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /gap/],
  ['overlapping offsets', fileWith('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8), /overlaps/],
  ['end before begin', fileWith('{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', 8), /before begin/],
  ['length different from shape × dtype', fileWith('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8), /needs 12 bytes/],
  ['huge claimed shape', fileWith('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', 8), /needs Infinity bytes|needs \d+ bytes/],
  ['huge claimed offsets', fileWith('{"a":{"dtype":"U8","shape":[1099511627776],"data_offsets":[0,1099511627776]}}', 8), /file is \d+ bytes but/],
  ['truncated data', fileWith(ok, 15), /file is \d+ bytes but/],
  ['trailing bytes', fileWith(ok, 17), /file is \d+ bytes but/],
  ['unknown dtype', fileWith('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16), /unknown dtype/],
  ['negative shape', fileWith('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4), /shape/],
  ['fractional offset', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}', 4), /data_offsets/],
  ['extra field in an entry', fileWith('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', 4), /Unrecognized key|unrecognized/i],
  ['missing data_offsets', fileWith('{"a":{"dtype":"F32","shape":[1]}}', 4), /data_offsets/],
  ['metadata not string to string', fileWith('{"__metadata__":{"a":1}}', 0), /__metadata__/],
];

describe('malformed files are refused without a crash', () => {
  for (const [what, bytes, message] of MALFORMED) {
    it(what, async () => {
      const src = new SpySource('bad.safetensors', bytes);
      await expect(readHeader(src)).rejects.toThrow(SafetensorsError);
      await expect(readHeader(src)).rejects.toThrow(message);
      for (const n of src.reads) expect(n).toBeLessThanOrEqual(bytes.byteLength);
    });
  }

  it('survives random corruption of a real header (fuzz, seeded)', async () => {
    const original = await readFile(join(ALL_FIXTURES[0], 'adapter_model.safetensors'));
    const n = Number(original.readBigUInt64LE(0));
    let s = 99;
    const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
    let refused = 0;
    for (let round = 0; round < 400; round++) {
      const copy = Buffer.from(original);
      const flips = 1 + (next() % 4);
      for (let f = 0; f < flips; f++) copy[next() % (8 + n)] = next() & 0xff;
      const src = new SpySource('fuzz', copy);
      try {
        const h = await readHeader(src);
        // Accepted: then it really is consistent with the file.
        expect(h.dataStart + h.tensors.reduce((m, t) => Math.max(m, t.end), 0)).toBe(copy.length);
      } catch (err) {
        expect(err).toBeInstanceOf(SafetensorsError);
        refused++;
      }
      for (const len of src.reads) expect(len).toBeLessThanOrEqual(copy.length);
    }
    expect(refused).toBeGreaterThan(100);
  });

  it('parseHeaderLength and parseHeader agree with a valid file', () => {
    const f = fileWith(ok, 16);
    const len = parseHeaderLength(f.subarray(0, 8), f.length, 'x');
    const h = parseHeader(f.subarray(8, 8 + len), f.length, 'x');
    expect(h.tensors.map((t) => t.name)).toEqual(['a', 'b']);
  });
});
