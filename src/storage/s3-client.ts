// Builds the S3 client from plain settings (endpoint, region, path style) and credentials taken from
// a mounted Secret's files or the SDK's default chain. Credentials never enter the settings object,
// so logging the settings is always safe.
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import type { KeepAliveAgents } from './small-get.js';

export const S3SettingsSchema = z.object({
  // e.g. http://127.0.0.1:7070; absent means AWS's regional endpoint.
  endpoint: z.url({ protocol: /^https?$/, error: 'endpoint must be an http:// or https:// URL' }).optional(),
  region: z.string().min(1).default('us-east-1'),
  forcePathStyle: z.boolean().default(false),
  // A folder holding AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY files (optionally AWS_SESSION_TOKEN),
  // as a Kubernetes Secret mounted as a volume. Absent: the SDK's default chain (env, profile, IRSA, IMDS).
  credentialsDir: z.string().min(1).optional(),
  // Sockets per client; bounds parallel requests to one endpoint.
  maxSockets: z.number().int().positive().default(64),
  // Attempts per request inside the SDK; the downloader retries with resume on top of this.
  maxAttempts: z.number().int().positive().default(2),
  // Ranged reads of downloads go through Graft's own HTTP/1.1 reader (signed by request-signer.ts), which
  // writes bodies to disk without copies (the default); false sends them through the SDK's GetObject.
  directReads: z.boolean().optional(),
});
export type S3Settings = z.infer<typeof S3SettingsSchema>;
export type S3SettingsInput = z.input<typeof S3SettingsSchema>;

const TRUE = new Set(['1', 'true', 'yes', 'on']);

// Settings from the environment: GRAFT_S3_ENDPOINT (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL),
// AWS_REGION (or AWS_DEFAULT_REGION), GRAFT_S3_FORCE_PATH_STYLE, GRAFT_S3_CREDENTIALS_DIR,
// GRAFT_S3_MAX_SOCKETS, GRAFT_S3_DIRECT_READS.
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Settings {
  const endpoint = env.GRAFT_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  const pathStyle = env.GRAFT_S3_FORCE_PATH_STYLE ?? env.AWS_S3_FORCE_PATH_STYLE;
  const parsed = S3SettingsSchema.safeParse({
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    forcePathStyle: pathStyle === undefined ? undefined : TRUE.has(pathStyle.toLowerCase()),
    credentialsDir: env.GRAFT_S3_CREDENTIALS_DIR || undefined,
    maxSockets: env.GRAFT_S3_MAX_SOCKETS ? Number(env.GRAFT_S3_MAX_SOCKETS) : undefined,
    directReads: env.GRAFT_S3_DIRECT_READS ? TRUE.has(env.GRAFT_S3_DIRECT_READS.toLowerCase()) : undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const envName: Record<string, string> = {
      endpoint: 'GRAFT_S3_ENDPOINT', region: 'AWS_REGION', credentialsDir: 'GRAFT_S3_CREDENTIALS_DIR', maxSockets: 'GRAFT_S3_MAX_SOCKETS', directReads: 'GRAFT_S3_DIRECT_READS',
    };
    const key = String(issue?.path[0] ?? '');
    throw new Error(`S3 settings: ${envName[key] ?? key}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export interface StaticCredentials { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

// Reads the credential files of a mounted Secret. Missing files are an error that names the file,
// never its content.
export async function readCredentialsDir(dir: string): Promise<StaticCredentials> {
  const read = async (name: string, required: boolean): Promise<string | undefined> => {
    try {
      return (await readFile(join(dir, name), 'utf8')).trim();
    } catch (err) {
      if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`S3 credentials: cannot read ${join(dir, name)} (${(err as NodeJS.ErrnoException).code ?? 'error'}); mount a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY there`);
    }
  };
  const accessKeyId = await read('AWS_ACCESS_KEY_ID', true);
  const secretAccessKey = await read('AWS_SECRET_ACCESS_KEY', true);
  const sessionToken = await read('AWS_SESSION_TOKEN', false);
  if (!accessKeyId || !secretAccessKey) throw new Error(`S3 credentials: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY in ${dir} is empty`);
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

// Re-reads the files at most once a minute so a rotated Secret takes effect without a restart.
function fileCredentialProvider(dir: string) {
  const ttlMs = 60_000;
  return async () => {
    const creds = await readCredentialsDir(dir);
    return { ...creds, expiration: new Date(Date.now() + ttlMs) };
  };
}

const CONNECT_TIMEOUT_MS = 10_000;
// No byte for this long on an open request: the socket is dropped and the part retried.
const IDLE_TIMEOUT_MS = 60_000;

export interface DirectReadSettings { connectTimeoutMs: number; idleTimeoutMs: number }

// Clients built here with directReads on; a client built elsewhere (its handler unknown) reads
// through the SDK.
const directReadClients = new WeakMap<S3Client, DirectReadSettings>();

export function directReadSettings(client: S3Client): DirectReadSettings | undefined {
  return directReadClients.get(client);
}

// The keep-alive agents of a client built here with directReads on, for the requests Graft sends
// on its own beside the SDK's (listing pages): the same sockets, the same limit.
const clientAgents = new WeakMap<S3Client, KeepAliveAgents>();

export function keepAliveAgents(client: S3Client): KeepAliveAgents | undefined {
  return clientAgents.get(client);
}

// `credentials` overrides both sources; for tools and tests that hold keys in memory.
export function createS3Client(input: S3SettingsInput, opts: { credentials?: StaticCredentials } = {}): S3Client {
  const s = S3SettingsSchema.parse(input);
  const agentOpts = { keepAlive: true, maxSockets: s.maxSockets, scheduling: 'lifo' as const };
  const agents = { http: new HttpAgent(agentOpts), https: new HttpsAgent(agentOpts) };
  const client = new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.forcePathStyle,
    maxAttempts: s.maxAttempts,
    ...(opts.credentials ? { credentials: { ...opts.credentials } }
      : s.credentialsDir ? { credentials: fileCredentialProvider(s.credentialsDir) } : {}),
    // Graft checks every byte with its own sha256; the SDK's CRC on top only costs CPU, and some
    // S3-compatible servers answer ranged reads with whole-object checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      requestTimeout: IDLE_TIMEOUT_MS,
    },
  });
  if (s.directReads !== false) {
    directReadClients.set(client, { connectTimeoutMs: CONNECT_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS });
    clientAgents.set(client, agents);
  }
  return client;
}
