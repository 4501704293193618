// S3 GET requests signed without the SDK's middleware stack, which costs about a millisecond of CPU
// per request (endpoint rules, schema serialisation, retries, user agent) where SigV4 itself costs a
// tenth of that; an agent staging a small adapter sends three (a list and two reads).
//
// What the SDK decides is learned from it once per bucket: one GetObject is built and signed by
// the SDK and stopped before sending (signed-get.ts), and its scheme, host, port, path prefix (path
// or virtual-host style, an endpoint's own path) and credential scope (signing region and service)
// are kept. Later requests to the bucket are signed with the SDK's own SigV4 signer under the
// client's credential provider (rotations and expiries as the SDK handles them). A bucket whose
// probe is not plain SigV4 (SigV4a, anonymous) is left to the SDK: sign() answers undefined.
import { createHash, createHmac } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { signGetObject, type SignedGet } from './signed-get.js';

// The SDK signs a GET's empty body by its sha256, as S3 asks for; so do we.
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const PROBE_KEY = 'graft-endpoint-probe';

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): string | Buffer => (typeof d === 'string' ? d : d instanceof ArrayBuffer ? Buffer.from(d) : Buffer.from(d.buffer, d.byteOffset, d.byteLength));

// sha256, or HMAC-SHA256 with a secret, in the shape the signer takes (@smithy/types Checksum).
class Sha256 {
  private h;
  constructor(private readonly secret?: SourceData) { this.h = this.fresh(); }
  private fresh() { return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret)); }
  update(data: Uint8Array): void { this.h.update(data); }
  async digest(): Promise<Uint8Array> { return new Uint8Array(this.h.digest()); }
  reset(): void { this.h = this.fresh(); }
}

interface BucketEndpoint {
  tls: boolean;
  host: string;
  port: number;
  hostHeader: string;
  // The path before an object's key: `/bucket/` in path style, `/` in virtual-host style.
  prefix: string;
  signer: SignatureV4;
}

export interface GetRequest {
  // An object's key; absent for a request on the bucket itself (a listing).
  key?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

// RFC 3986 encoding of one path segment or query part, as SigV4 and the SDK encode them.
export function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// An object key as a URL path: each segment encoded, the slashes kept (as the SDK sends it).
export function encodeKey(key: string): string {
  return key.split('/').map(encodeRfc3986).join('/');
}

export class RequestSigner {
  private readonly endpoints = new Map<string, Promise<BucketEndpoint | undefined>>();

  constructor(private readonly client: S3Client) {}

  // The signed request, or undefined when this bucket's requests must go through the SDK.
  async sign(bucket: string, req: GetRequest, signal?: AbortSignal): Promise<SignedGet | undefined> {
    let ep = this.endpoints.get(bucket);
    if (!ep) {
      ep = this.learn(bucket, signal);
      this.endpoints.set(bucket, ep);
      // A failed probe (a network error, an abort) is tried again by the next request.
      ep.catch(() => this.endpoints.delete(bucket));
    }
    const e = await ep;
    if (!e) return undefined;
    // Path style lists at `/bucket` (no slash), as the SDK does; virtual-host style at `/`.
    const path = req.key !== undefined ? e.prefix + encodeKey(req.key) : (e.prefix.length > 1 ? e.prefix.slice(0, -1) : e.prefix);
    const query = req.query ?? {};
    const signed = await e.signer.sign({
      method: 'GET', protocol: e.tls ? 'https:' : 'http:', hostname: e.host, port: e.port, path, query,
      headers: { ...req.headers, host: e.hostHeader, 'x-amz-content-sha256': EMPTY_SHA256 },
    });
    const qs = Object.entries(query).map(([k, v]) => `${encodeRfc3986(k)}=${encodeRfc3986(v)}`).join('&');
    return { tls: e.tls, host: e.host, port: e.port, target: qs ? `${path}?${qs}` : path, headers: signed.headers as Record<string, string> };
  }

  private async learn(bucket: string, signal?: AbortSignal): Promise<BucketEndpoint | undefined> {
    const probe = await signGetObject(this.client, { bucket, key: PROBE_KEY, start: 0, end: 0 }, signal);
    const path = probe.target.split('?')[0]!;
    const auth = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request,/.exec(probe.headers.authorization ?? '');
    if (!auth || !path.endsWith(`/${PROBE_KEY}`) || !probe.headers.host) return undefined;
    const credentials = this.client.config.credentials;
    if (typeof credentials !== 'function') return undefined;
    const signer = new SignatureV4({ credentials, region: auth[1]!, service: auth[2]!, sha256: Sha256, uriEscapePath: false, applyChecksum: true });
    return { tls: probe.tls, host: probe.host, port: probe.port, hostHeader: probe.headers.host, prefix: path.slice(0, -PROBE_KEY.length), signer };
  }
}

const signers = new WeakMap<S3Client, RequestSigner>();

// The client's signer, made on first use.
export function requestSigner(client: S3Client): RequestSigner {
  let s = signers.get(client);
  if (!s) { s = new RequestSigner(client); signers.set(client, s); }
  return s;
}
