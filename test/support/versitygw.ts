// A real S3 server for tests: versitygw with the posix backend on a free port, its data and metadata
// in temporary folders. It serves on loopback, or inside the sandbox network at the bridge's
// 10.244.0.1, where the sandbox's pods reach it (src/sandbox/netns.ts). restart() keeps the port
// and the data.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client, type S3Settings } from '../../src/storage/s3-client.js';
import { freePort, waitFor } from './ports.js';
import { Proc } from './process.js';
import { toolPath } from './tools.js';
import { serviceHost } from '../../src/sandbox/netns.js';

export interface VersityGw {
  endpoint: string;
  port: number;
  region: string;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  // Settings for createS3Client (credentials come from env()).
  settings: S3Settings;
  // AWS_* variables that point an SDK, the AWS CLI or s5cmd at this server.
  env(): Record<string, string>;
  client(): S3Client;
  createBucket(name: string): Promise<void>;
  output(): string;
  // Stops the server for good and removes its folders.
  stop(): Promise<void>;
  // SIGKILL, keeping port and data: an outage in the middle of whatever is in flight.
  kill(): Promise<void>;
  // Starts it again after kill().
  start(): Promise<void>;
  restart(): Promise<void>;
}

export async function startVersityGw(opts: { buckets?: string[]; port?: number } = {}): Promise<VersityGw> {
  const root = await mkdtemp(join(tmpdir(), 'graft-vgw-'));
  const dataDir = join(root, 'data');
  const metaDir = join(root, 'meta');
  await mkdir(dataDir);
  await mkdir(metaDir);
  const host = serviceHost();
  const port = opts.port ?? await freePort(host);
  const accessKey = `AKTEST${randomBytes(6).toString('hex').toUpperCase()}`;
  const secretKey = randomBytes(24).toString('base64url');
  const region = 'us-east-1';
  const endpoint = `http://${host}:${port}`;
  const bin = toolPath('versitygw');
  let proc: Proc | undefined;
  let log = '';

  const start = async () => {
    proc = new Proc('versitygw', bin, ['--port', `${host}:${port}`, '--quiet', 'posix', '--sidecar', metaDir, dataDir], {
      env: { ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey },
    });
    const p = proc;
    await waitFor('versitygw to listen', async () => {
      if (!p.running) throw new Error(`versitygw exited: ${p.output.slice(-2000)}`);
      const r = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      return true; // any HTTP answer (403 without a signature) means it serves
    }, 20_000, 50).catch(async (err: unknown) => {
      await p.kill();
      throw err;
    });
  };
  const stopProc = async (hard = false) => {
    if (!proc) return;
    log += proc.output;
    await (hard ? proc.kill() : proc.stop());
    proc = undefined;
  };

  await start();
  const settings: S3Settings = { endpoint, region, forcePathStyle: true, maxSockets: 64, maxAttempts: 2 };
  const env = () => ({ AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: region, AWS_DEFAULT_REGION: region, AWS_ENDPOINT_URL: endpoint });
  const client = () => createS3Client(settings, { credentials: { accessKeyId: accessKey, secretAccessKey: secretKey } });
  const gw: VersityGw = {
    endpoint, port, region, accessKey, secretKey, dataDir, settings, env, client,
    async createBucket(name) {
      const c = client();
      try { await c.send(new CreateBucketCommand({ Bucket: name })); } finally { c.destroy(); }
    },
    output: () => log + (proc?.output ?? ''),
    async stop() {
      await stopProc();
      await rm(root, { recursive: true, force: true });
    },
    kill: () => stopProc(true),
    async start() {
      if (!proc) await start();
    },
    async restart() {
      await stopProc();
      await start();
    },
  };
  try {
    for (const b of opts.buckets ?? []) await gw.createBucket(b);
  } catch (err) {
    await gw.stop(); // the caller never gets a handle to stop it
    throw err;
  }
  return gw;
}
