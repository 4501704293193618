// A GetObject request built and signed by the SDK (endpoint rules, path or virtual-host style,
// credentials, SigV4), stopped just before it would be sent, so that the ranged reader can send it
// on its own connection. The SDK's retries do not apply to it; the downloader's do.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface SignedGet {
  tls: boolean;
  host: string; // for connecting: no brackets around an IPv6 address
  port: number;
  // The request line's target and every header, the signature among them. They hold a
  // credential (the signature; with temporary credentials the session token): never log them.
  target: string;
  headers: Record<string, string>;
}

export interface GetInput {
  bucket: string;
  key: string;
  start: number;
  end: number; // inclusive
  ifMatch?: string;
}

interface CapturedRequest {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null | undefined>;
  headers: Record<string, string>;
  username?: string;
  password?: string;
}

class Captured extends Error {
  constructor(readonly request: CapturedRequest) {
    super('request captured after signing');
    this.name = 'Captured';
  }
}

export async function signGetObject(client: S3Client, input: GetInput, signal?: AbortSignal): Promise<SignedGet> {
  const cmd = new GetObjectCommand({ Bucket: input.bucket, Key: input.key, Range: `bytes=${input.start}-${input.end}`, IfMatch: input.ifMatch });
  cmd.middlewareStack.addRelativeTo(
    () => async (args: { request: unknown }) => { throw new Captured(args.request as CapturedRequest); },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'graftCaptureSignedRequest' },
  );
  let req: CapturedRequest;
  try {
    await client.send(cmd, { abortSignal: signal });
    throw new Error('GetObject was sent although it should have stopped after signing');
  } catch (err) {
    if (!(err instanceof Captured)) throw err;
    req = err.request;
  }
  if (req.username || req.password) throw new Error('endpoints with user:password are not supported by the ranged reader');
  const tls = req.protocol === 'https:';
  const host = req.hostname.startsWith('[') && req.hostname.endsWith(']') ? req.hostname.slice(1, -1) : req.hostname;
  const query = req.query ? queryString(req.query) : '';
  return {
    tls,
    host,
    port: req.port ?? (tls ? 443 : 80),
    target: query ? `${req.path}?${query}` : req.path,
    headers: req.headers,
  };
}

// RFC 3986 encoding, as SigV4 canonicalises it.
function encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function queryString(query: NonNullable<CapturedRequest['query']>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (Array.isArray(v)) for (const one of v) parts.push(`${encode(k)}=${encode(one)}`);
    else if (v === null || v === undefined) parts.push(encode(k));
    else parts.push(`${encode(k)}=${encode(v)}`);
  }
  return parts.join('&');
}
