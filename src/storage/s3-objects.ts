// Small S3 operations shared by the agent and the merge engine: list a prefix, read a byte range,
// read a whole small object, write an object.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { parseListPage, type ListPage } from './list-page.js';
import { requestSigner } from './request-signer.js';
import { directReadSettings, keepAliveAgents } from './s3-client.js';
import { smallGet } from './small-get.js';

export interface S3ObjectInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

export class TooManyObjectsError extends Error {
  constructor(readonly uri: string, readonly limit: number) {
    super(`more than ${limit} objects under ${uri} (listing stopped there)`);
    this.name = 'TooManyObjectsError';
  }
}

// Every object under `prefix` (all pages), in the order S3 returns them (by key). With `maxKeys`,
// listing stops as soon as more than that many keys are seen (TooManyObjectsError): a prefix of
// millions of keys costs at most one page beyond the limit, in time and memory.
export async function listObjects(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal, maxKeys = Infinity): Promise<S3ObjectInfo[]> {
  const out: S3ObjectInfo[] = [];
  let token: string | undefined;
  do {
    const left = maxKeys - out.length + 1; // one more than allowed is enough to know
    const max = Number.isFinite(left) ? Math.min(1000, left) : undefined;
    const page = await listPageDirect(client, bucket, prefix, token, max, signal) ?? await listPageSdk(client, bucket, prefix, token, max, signal);
    out.push(...page.contents);
    if (out.length > maxKeys) throw new TooManyObjectsError(`s3://${bucket}/${prefix}`, maxKeys);
    token = page.truncated ? page.nextToken : undefined;
  } while (token);
  return out;
}

// A page of 1000 keys of up to 1 KiB each is about 1.5 MB of XML.
const MAX_LIST_PAGE_BYTES = 8 * 1024 * 1024;

// A listing page signed and sent by Graft (request-signer.ts), for clients built with direct reads.
async function listPageDirect(client: S3Client, bucket: string, prefix: string, token: string | undefined, max: number | undefined, signal?: AbortSignal): Promise<ListPage | undefined> {
  const agents = keepAliveAgents(client), direct = directReadSettings(client);
  if (!agents || !direct) return undefined;
  const query: Record<string, string> = { 'list-type': '2', prefix };
  if (token !== undefined) query['continuation-token'] = token;
  if (max !== undefined) query['max-keys'] = String(max);
  const req = await requestSigner(client).sign(bucket, { query }, signal);
  if (!req) return undefined;
  const r = await smallGet(req, { agents, limit: MAX_LIST_PAGE_BYTES, idleTimeoutMs: direct.idleTimeoutMs, signal });
  return parseListPage(r.body.toString('utf8'));
}

async function listPageSdk(client: S3Client, bucket: string, prefix: string, token: string | undefined, max: number | undefined, signal?: AbortSignal): Promise<ListPage> {
  const page = await client.send(new ListObjectsV2Command({
    Bucket: bucket, Prefix: prefix, ContinuationToken: token, ...(max !== undefined ? { MaxKeys: max } : {}),
  }), { abortSignal: signal });
  const contents: S3ObjectInfo[] = [];
  for (const o of page.Contents ?? []) {
    if (o.Key !== undefined) contents.push({ key: o.Key, size: Number(o.Size ?? 0), etag: o.ETag, lastModified: o.LastModified });
  }
  return { contents, truncated: !!page.IsTruncated, nextToken: page.NextContinuationToken };
}

export async function headObject(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<S3ObjectInfo> {
  const r = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  return { key, size: Number(r.ContentLength ?? 0), etag: r.ETag, lastModified: r.LastModified };
}

// Bytes [start, end] (inclusive, as in the HTTP Range header) as a stream. `ifMatch` pins the
// object version so a download never mixes parts of two uploads.
export async function getRange(
  client: S3Client, bucket: string, key: string, start: number, end: number,
  opts: { signal?: AbortSignal; ifMatch?: string } = {},
): Promise<Readable> {
  const r = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end}`, IfMatch: opts.ifMatch }),
    { abortSignal: opts.signal },
  );
  if (!r.Body) throw new Error(`GetObject s3://${bucket}/${key} returned no body`);
  return r.Body as Readable;
}

// A whole object into memory: for small files only (configs, headers).
export async function getObjectBytes(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<Buffer> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  if (!r.Body) return Buffer.alloc(0);
  const bytes = await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function putObject(
  client: S3Client, bucket: string, key: string, body: Buffer | Uint8Array | string,
  opts: { contentType?: string; signal?: AbortSignal } = {},
): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType }), { abortSignal: opts.signal });
}

// A single PUT streamed from a file (S3 allows up to 5 GiB in one PUT).
export async function putFile(client: S3Client, bucket: string, key: string, path: string, signal?: AbortSignal): Promise<void> {
  const { size } = await stat(path);
  if (size > 5 * 1024 ** 3) throw new Error(`putFile: ${path} is ${size} bytes, above the 5 GiB single-PUT limit`);
  await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(path), ContentLength: size }),
    { abortSignal: signal },
  );
}
