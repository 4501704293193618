import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

// Anything that could hold a credential is redacted wherever it appears in a log object.
export const REDACT_PATHS = [
  'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'secretAccessKey', '*.secretAccessKey', 'accessKeyId', '*.accessKeyId', 'sessionToken', '*.sessionToken',
  'credentials', '*.credentials', 'password', '*.password', 'bearerToken', '*.bearerToken',
];

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options: LoggerOptions = {
    name: opts.name ?? 'graft',
    level: opts.level ?? process.env.GRAFT_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

// A logger that writes nothing, for tests and library defaults.
export const silentLogger: Logger = pino({ level: 'silent' });
