// s3:// inputs and outputs for the merge engine, on top of src/storage. Inputs are read by range
// (the safetensors header with two small GETs, then one GET per tensor, pinned to the object's
// ETag). Outputs are written to temporary keys first, then copied to their final keys (weights
// first, config last, so a reader never sees a config without its weights), then the temporary
// keys are deleted. CopyObject and DeleteObject are not in src/storage, so they live here.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, s3SettingsFromEnv } from '../storage/s3-client.js';
import { httpStatusOf, s3ErrorCode } from '../storage/s3-errors.js';
import { getObjectBytes, getRange, headObject, putFile } from '../storage/s3-objects.js';
import { folderPrefix, joinKey, parseS3Uri, type S3Location } from '../storage/s3-uri.js';
import type { OutputTarget } from './output.js';
import { MergeInputError } from './plan.js';
import type { ByteSource } from './safetensors/source.js';
import { CONFIG_FILE, StoreError, WEIGHTS_FILE, type AdapterStore } from './store.js';

let shared: S3Client | undefined;
// One client per process, from the environment (GRAFT_S3_ENDPOINT, AWS_REGION, credentials chain).
export function mergeS3Client(): S3Client {
  shared ??= createS3Client(s3SettingsFromEnv());
  return shared;
}

function isNotFound(err: unknown): boolean {
  const code = s3ErrorCode(err);
  return httpStatusOf(err) === 404 || code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

function parse(uri: string, field: string): S3Location {
  try {
    return parseS3Uri(uri, field);
  } catch (err) {
    throw new MergeInputError((err as Error).message);
  }
}

async function collect(stream: Readable, length: number, where: string): Promise<Uint8Array> {
  // Never from Buffer's shared pool: the bytes may be transferred to a worker thread.
  const buf = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (at + chunk.length > length) throw new Error(`${where}: ranged read returned more than ${length} bytes`);
    chunk.copy(buf, at);
    at += chunk.length;
  }
  if (at !== length) throw new Error(`${where}: ranged read returned ${at} of ${length} bytes`);
  return buf;
}

class S3Source implements ByteSource {
  constructor(readonly where: string, readonly size: number, private readonly client: S3Client,
    private readonly bucket: string, private readonly key: string, private readonly etag?: string) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new Error(`${this.where}: read of ${length} bytes at ${offset} is outside the ${this.size}-byte object`);
    if (length === 0) return new Uint8Array(0);
    const body = await getRange(this.client, this.bucket, this.key, offset, offset + length - 1, { ifMatch: this.etag });
    return collect(body, length, this.where);
  }

  async close(): Promise<void> {}
}

export class S3AdapterStore implements AdapterStore {
  private readonly loc: S3Location;
  private readonly client: S3Client;
  constructor(readonly where: string, field: string, client?: S3Client) {
    this.client = client ?? mergeS3Client();
    this.loc = parse(where, field);
  }

  async readText(name: string): Promise<string> {
    const key = joinKey(this.loc.prefix, name);
    try {
      return (await getObjectBytes(this.client, this.loc.bucket, key)).toString('utf8');
    } catch (err) {
      if (isNotFound(err)) throw new StoreError(`${this.where}: no ${name} there (s3://${this.loc.bucket}/${key}); an input must hold ${CONFIG_FILE} and ${WEIGHTS_FILE}`);
      throw err;
    }
  }

  async open(name: string): Promise<ByteSource> {
    const key = joinKey(this.loc.prefix, name);
    try {
      const info = await headObject(this.client, this.loc.bucket, key);
      return new S3Source(`s3://${this.loc.bucket}/${key}`, info.size, this.client, this.loc.bucket, key, info.etag);
    } catch (err) {
      if (isNotFound(err)) throw new StoreError(`${this.where}: no ${name} there (s3://${this.loc.bucket}/${key})`);
      throw err;
    }
  }

  async close(): Promise<void> {}
}

function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export class S3Output implements OutputTarget {
  private readonly loc: S3Location;
  private local?: string;
  private readonly tempKeys: string[] = [];

  private readonly client: S3Client;
  constructor(readonly where: string, private readonly force: boolean, client?: S3Client) {
    this.client = client ?? mergeS3Client();
    this.loc = parse(where, '--out');
  }

  async prepare(): Promise<string> {
    if (!this.force) {
      try {
        await headObject(this.client, this.loc.bucket, joinKey(this.loc.prefix, CONFIG_FILE));
        throw new MergeInputError(`--out ${this.where} already holds an adapter; choose a new prefix or pass --force to replace it`);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    this.local = await mkdtemp(join(tmpdir(), 'graft-merge-'));
    return this.local;
  }

  async commit(): Promise<void> {
    if (!this.local) throw new Error('S3Output.commit before prepare');
    const files = await readdir(this.local);
    const order = [WEIGHTS_FILE, ...files.filter((f) => f !== WEIGHTS_FILE && f !== CONFIG_FILE).sort(), CONFIG_FILE].filter((f) => files.includes(f));
    const tmpPrefix = `${folderPrefix(this.loc.prefix)}.graft-tmp-${randomBytes(6).toString('hex')}/`;
    for (const f of order) {
      const key = `${tmpPrefix}${f}`;
      this.tempKeys.push(key);
      await putFile(this.client, this.loc.bucket, key, join(this.local, f));
    }
    for (const f of order) {
      await this.client.send(new CopyObjectCommand({
        Bucket: this.loc.bucket, Key: joinKey(this.loc.prefix, f), CopySource: copySource(this.loc.bucket, `${tmpPrefix}${f}`),
      }));
    }
    await this.cleanup();
  }

  async abort(): Promise<void> {
    await this.cleanup();
  }

  private async cleanup(): Promise<void> {
    for (const key of this.tempKeys.splice(0)) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: key })).catch(() => {});
    }
    if (this.local) await rm(this.local, { recursive: true, force: true });
    this.local = undefined;
  }
}
