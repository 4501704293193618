// `graft agent`: the sidecar in every serving pod. `graft agent stage-base`: the init step that
// stages base weights into the cache volume. Flags and environment variables: docs/agent.md.
import { parseArgs } from 'node:util';
import { startAgent } from '../agent/agent.js';
import { parseBytes, resolveConfig, SETTINGS } from '../agent/config.js';
import { stageBase } from '../agent/stage-base.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../storage/download.js';
import { createS3Client, s3SettingsFromEnv } from '../storage/s3-client.js';
import { createLogger } from '../util/log.js';
import { CliError } from './errors.js';

const USAGE = `usage: graft agent [flags]            serve the adapter API in a serving pod
       graft agent stage-base --source s3://bucket/prefix/ --dest DIR [--digest sha256:...]

flags (each also read from the environment variable shown):
${Object.values(SETTINGS).map((s) => `  --${s.flag.padEnd(20)} ${s.env}`).join('\n')}

S3: GRAFT_S3_ENDPOINT (or AWS_ENDPOINT_URL), AWS_REGION, GRAFT_S3_FORCE_PATH_STYLE,
GRAFT_S3_CREDENTIALS_DIR (a mounted Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY),
GRAFT_S3_DIRECT_READS=false (ranged reads through the SDK instead of the agent's own reader);
without it the SDK's default credential chain applies.
`;

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === 'stage-base') return runStageBase(argv.slice(1));
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, { type: 'string' as const }]));
    ({ values } = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config;
  let s3;
  try {
    config = resolveConfig(values as Record<string, string | undefined>, process.env);
    s3 = s3SettingsFromEnv(process.env);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const log = createLogger({ name: 'graft-agent', level: config.logLevel });
  const agent = await startAgent(config, s3, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      void agent.stop().finally(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

async function runStageBase(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        source: { type: 'string' }, dest: { type: 'string' }, digest: { type: 'string' },
        'part-size': { type: 'string' }, concurrency: { type: 'string' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const env = process.env;
  const source = (values.source as string | undefined) ?? env.GRAFT_BASE_SOURCE;
  const dest = (values.dest as string | undefined) ?? env.GRAFT_BASE_DIR;
  const digest = (values.digest as string | undefined) ?? (env.GRAFT_BASE_DIGEST || undefined);
  if (!source) throw new CliError('stage-base: --source (or GRAFT_BASE_SOURCE) is required: the s3://bucket/prefix/ of the base weights');
  if (!dest) throw new CliError('stage-base: --dest (or GRAFT_BASE_DIR) is required: the folder in the cache volume the engine reads');
  if (digest && !/^sha256:[0-9a-f]{64}$/.test(digest)) throw new CliError('stage-base: --digest must be sha256: followed by 64 lower-case hex digits');
  const log = createLogger({ name: 'graft-stage-base', level: (values['log-level'] as string | undefined) ?? env.GRAFT_LOG_LEVEL ?? 'info' });
  if (!source.startsWith('s3://')) {
    log.info({ source }, 'the base model is not on S3 (a model id); the engine fetches it itself, nothing to stage');
    return 0;
  }
  let partSize = DEFAULT_PART_SIZE;
  let concurrency = DEFAULT_CONCURRENCY;
  try {
    const ps = (values['part-size'] as string | undefined) ?? env.GRAFT_S3_PART_SIZE;
    if (ps) partSize = parseBytes(ps);
    const c = (values.concurrency as string | undefined) ?? env.GRAFT_S3_CONCURRENCY;
    if (c) concurrency = Number(c);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new Error('--concurrency must be a whole number from 1 to 256');
    if (partSize < 64 * 1024) throw new Error('--part-size must be at least 64Ki');
  } catch (err) {
    throw new CliError(`stage-base: ${(err as Error).message}`);
  }
  let settings;
  try {
    settings = s3SettingsFromEnv(env);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const client = createS3Client({ ...settings, maxSockets: Math.max(settings.maxSockets, concurrency) });
  try {
    await stageBase({ client, source, dest, digest, partSize, concurrency, log });
    return 0;
  } catch (err) {
    log.error({ err }, 'staging base weights failed');
    return 1;
  } finally {
    client.destroy();
  }
}
