// Real PEFT adapters from test/fixtures/peft (read-only), and broken variants of them built
// in memory for validation tests.
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { manifestDigest } from '../../src/storage/manifest.js';
import { putObject } from '../../src/storage/s3-objects.js';

import { FIXTURES } from '../support/fixtures-dir.js';

export { FIXTURES };

export type AdapterFiles = Record<string, Buffer>;

export async function readFixture(name: string): Promise<AdapterFiles> {
  const dir = join(FIXTURES, name);
  return {
    'adapter_config.json': await readFile(join(dir, 'adapter_config.json')),
    'adapter_model.safetensors': await readFile(join(dir, 'adapter_model.safetensors')),
  };
}

export function digestOf(files: AdapterFiles): string {
  return manifestDigest(Object.entries(files).map(([path, b]) => ({ path, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })));
}

export async function upload(client: S3Client, bucket: string, prefix: string, files: AdapterFiles): Promise<string> {
  for (const [p, b] of Object.entries(files)) await putObject(client, bucket, `${prefix}/${p}`, b);
  return `s3://${bucket}/${prefix}/`;
}

function split(st: Buffer): { n: number; header: string; data: Buffer } {
  const n = Number(st.readBigUInt64LE(0));
  return { n, header: st.subarray(8, 8 + n).toString('utf8'), data: st.subarray(8 + n) };
}

function join8(header: string, n: number, data: Buffer): Buffer {
  const h = Buffer.from(header.padEnd(n, ' '), 'utf8');
  if (h.length !== n) throw new Error(`rewritten header is ${h.length} bytes, not ${n}`);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(n));
  return Buffer.concat([len, h, data]);
}

// One bit flipped in the header text: the first ':' becomes ';' and the JSON no longer parses.
export function bitFlipHeader(st: Buffer): Buffer {
  const out = Buffer.from(st);
  const at = 8 + out.subarray(8).indexOf(':'.charCodeAt(0));
  out[at] = out[at]! ^ 0x01;
  return out;
}

export function oversizedHeaderLength(st: Buffer): Buffer {
  const out = Buffer.from(st);
  out.writeBigUInt64LE(200_000_000n, 0);
  return out;
}

// The second tensor (by offset) starts 4 bytes early and overlaps the first; sizes stay right.
export function overlappingOffsets(st: Buffer): Buffer {
  const { n, header, data } = split(st);
  const obj = JSON.parse(header) as Record<string, { data_offsets?: [number, number] }>;
  const tensors = Object.entries(obj).filter(([k]) => k !== '__metadata__').sort((a, b) => a[1].data_offsets![0] - b[1].data_offsets![0]);
  const second = tensors[1]![1];
  second.data_offsets = [second.data_offsets![0] - 4, second.data_offsets![1] - 4];
  return join8(JSON.stringify(obj), n, data);
}

// The lora_B tensor of the first module renamed to its lora_A's name (same length, so the
// header keeps its size): a duplicate that JSON.parse would silently drop.
export function duplicateTensorName(st: Buffer): Buffer {
  const { n, header, data } = split(st);
  const keys = [...header.matchAll(/"([^"]+\.lora_A\.weight)"/g)].map((m) => m[1]!);
  const a = keys[0]!;
  const b = a.replace('.lora_A.', '.lora_B.');
  if (!header.includes(`"${b}"`)) throw new Error('fixture has no matching lora_B');
  return join8(header.replace(`"${b}"`, `"${a}"`), n, data);
}

export function withConfig(files: AdapterFiles, patch: Record<string, unknown>): AdapterFiles {
  const cfg = { ...JSON.parse(files['adapter_config.json']!.toString('utf8')), ...patch };
  return { ...files, 'adapter_config.json': Buffer.from(JSON.stringify(cfg, null, 2)) };
}

// The same tensors with a valid header of about `headerBytes`: the room is filled with distinct
// __metadata__ entries (what makes a large header expensive to parse), padded to a multiple of 8.
export function withLargeHeader(st: Buffer, headerBytes: number): Buffer {
  const { header, data } = split(st);
  const obj = JSON.parse(header) as Record<string, unknown>;
  delete obj.__metadata__;
  const tensors = JSON.stringify(obj).slice(1, -1);
  const head = Buffer.from(`{${tensors},"__metadata__":{`, 'utf8');
  const total = Math.ceil(headerBytes / 8) * 8;
  const out = Buffer.alloc(8 + total, 0x20);
  out.writeBigUInt64LE(BigInt(total), 0);
  let at = 8 + head.copy(out, 8);
  const end = 8 + total - 16; // room for the closing braces
  for (let i = 0; ; i++) {
    const entry = `${i === 0 ? '' : ','}"k${i}":"v${i}"`;
    if (at + Buffer.byteLength(entry) > end) break;
    at += out.write(entry, at, 'utf8');
  }
  out.write('}}', at, 'utf8');
  return Buffer.concat([out, data]);
}

// adapter_config.json padded with whitespace to `bytes` (still valid JSON).
export function withConfigOfSize(files: AdapterFiles, bytes: number): AdapterFiles {
  const cfg = files['adapter_config.json']!.toString('utf8').trimEnd();
  return { ...files, 'adapter_config.json': Buffer.from(cfg + ' '.repeat(Math.max(0, bytes - Buffer.byteLength(cfg))), 'utf8') };
}
