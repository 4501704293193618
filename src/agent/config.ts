// The agent's configuration: command-line flags first, then environment variables, then defaults.
import { z } from 'zod';
import { AllowedSources } from '../contracts/allowed-sources.js';
import { AGENT_ENV } from '../contracts/names.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE } from '../storage/download.js';

// "512Mi", "10Gi", "1G", "1048576" → bytes.
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k|Ki|M|Mi|G|Gi|T|Ti)?B?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a size; write bytes or a number with Ki, Mi, Gi, Ti (or k, M, G, T)`);
  const mult: Record<string, number> = { '': 1, k: 1e3, Ki: 1024, M: 1e6, Mi: 1024 ** 2, G: 1e9, Gi: 1024 ** 3, T: 1e12, Ti: 1024 ** 4 };
  return Math.round(Number(m[1]) * mult[m[2] ?? '']!);
}

// "3s", "500ms", "2m", "1500" (ms) → milliseconds.
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a duration; write e.g. 500ms, 3s or 2m`);
  return Math.round(Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[m[2] ?? 'ms']!);
}

export const DEFAULT_MAX_HEADER_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024;
export const DEFAULT_MAX_OBJECTS = 1000;
export const DEFAULT_MAX_ATTEMPTS = 10;

const size = z.string().transform((s, ctx) => {
  try { return parseBytes(s); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); return z.NEVER; }
});
const duration = z.string().transform((s, ctx) => {
  try { return parseDuration(s); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); return z.NEVER; }
});
const int = z.string().regex(/^\d+$/, 'must be a whole number').transform(Number);

export const AgentConfigSchema = z.object({
  host: z.string().default('0.0.0.0'),
  port: int.pipe(z.number().int().min(1).max(65535)).default(8095),
  tokenFile: z.string({ error: 'is required: the path of the mounted token Secret file' }).min(1, 'is required: the path of the mounted token Secret file'),
  cacheDir: z.string().default('/var/lib/graft/cache'),
  engine: z.enum(['vllm', 'sglang']).default('vllm'),
  engineUrl: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:8000'),
  maxLoraRank: int.pipe(z.number().int().positive()).default(16),
  baseModel: z.string().optional(),
  maxAdapterBytes: size.pipe(z.number().positive()).default(4 * 1024 ** 3),
  diskBudget: size.default(0), // 0 = no budget
  partSize: size.pipe(z.number().int().min(64 * 1024, 'must be at least 64Ki')).default(DEFAULT_PART_SIZE),
  concurrency: int.pipe(z.number().int().min(1).max(256)).default(DEFAULT_CONCURRENCY),
  reconcileInterval: duration.pipe(z.number().min(100)).default(3000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  // HTTPS on the API port when both are set (the kubernetes.io/tls Secret the operator issues).
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  // The engine's --api-key, sent as a bearer token on every engine call.
  engineKeyFile: z.string().min(1).optional(),
  // Comma-separated s3:// prefixes adapter sources must lie under; unset = any.
  allowedSources: z.string().optional().transform((s, ctx) => {
    try { return AllowedSources.parse(s, AGENT_ENV.allowedSources); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); return z.NEVER; }
  }),
  // Limits on what a source may make the agent read or hold (docs/agent.md, "Limits").
  maxHeaderBytes: size.pipe(z.number().int().min(1024, 'must be at least 1Ki').max(100_000_000, 'must be at most 100000000, the format\'s own limit')).default(DEFAULT_MAX_HEADER_BYTES),
  maxConfigBytes: size.pipe(z.number().int().min(1024, 'must be at least 1Ki')).default(DEFAULT_MAX_CONFIG_BYTES),
  maxObjects: int.pipe(z.number().int().min(2, 'must be at least 2 (a config and a weights file)')).default(DEFAULT_MAX_OBJECTS),
  // Failed attempts of one adapter on transient errors before it gives up (RetriesExhausted).
  maxAttempts: int.pipe(z.number().int().min(1)).default(DEFAULT_MAX_ATTEMPTS),
}).superRefine((c, ctx) => {
  if (!!c.tlsCertFile !== !!c.tlsKeyFile) {
    ctx.addIssue({ code: 'custom', path: [c.tlsCertFile ? 'tlsKeyFile' : 'tlsCertFile'], message: 'is required too: TLS needs both the certificate and the key file (or neither, for plain HTTP)' });
  }
});
export type AgentConfig = z.output<typeof AgentConfigSchema>;

// Each setting's flag and environment variable (docs/agent.md lists them).
export const SETTINGS: Record<keyof AgentConfig, { flag: string; env: string }> = {
  host: { flag: 'host', env: AGENT_ENV.host },
  port: { flag: 'port', env: AGENT_ENV.port },
  tokenFile: { flag: 'token-file', env: AGENT_ENV.tokenFile },
  cacheDir: { flag: 'cache-dir', env: AGENT_ENV.cacheDir },
  engine: { flag: 'engine', env: AGENT_ENV.engine },
  engineUrl: { flag: 'engine-url', env: AGENT_ENV.engineUrl },
  maxLoraRank: { flag: 'max-lora-rank', env: 'GRAFT_AGENT_MAX_LORA_RANK' },
  baseModel: { flag: 'base-model', env: 'GRAFT_AGENT_BASE_MODEL' },
  maxAdapterBytes: { flag: 'max-adapter-size', env: 'GRAFT_AGENT_MAX_ADAPTER_SIZE' },
  diskBudget: { flag: 'disk-budget', env: 'GRAFT_AGENT_DISK_BUDGET' },
  partSize: { flag: 'part-size', env: 'GRAFT_S3_PART_SIZE' },
  concurrency: { flag: 'concurrency', env: 'GRAFT_S3_CONCURRENCY' },
  reconcileInterval: { flag: 'reconcile-interval', env: 'GRAFT_AGENT_RECONCILE_INTERVAL' },
  logLevel: { flag: 'log-level', env: 'GRAFT_LOG_LEVEL' },
  tlsCertFile: { flag: 'tls-cert-file', env: AGENT_ENV.tlsCertFile },
  tlsKeyFile: { flag: 'tls-key-file', env: AGENT_ENV.tlsKeyFile },
  engineKeyFile: { flag: 'engine-api-key-file', env: AGENT_ENV.engineKeyFile },
  allowedSources: { flag: 'allowed-sources', env: AGENT_ENV.allowedSources },
  maxHeaderBytes: { flag: 'max-header-size', env: 'GRAFT_AGENT_MAX_HEADER_BYTES' },
  maxConfigBytes: { flag: 'max-config-size', env: 'GRAFT_AGENT_MAX_CONFIG_BYTES' },
  maxObjects: { flag: 'max-objects', env: 'GRAFT_AGENT_MAX_OBJECTS' },
  maxAttempts: { flag: 'max-attempts', env: 'GRAFT_AGENT_MAX_ATTEMPTS' },
};

// Merges flags (by flag name) and environment; errors name the flag and the variable.
export function resolveConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv): AgentConfig {
  const raw: Record<string, string | undefined> = {};
  for (const [key, s] of Object.entries(SETTINGS)) raw[key] = flags[s.flag] ?? (env[s.env] || undefined);
  const parsed = AgentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const s = SETTINGS[issue.path[0] as keyof AgentConfig];
    throw new Error(s ? `--${s.flag} (or ${s.env}): ${issue.message}` : issue.message);
  }
  return parsed.data;
}
