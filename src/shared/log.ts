// The one way to build a logger: pino JSON, secrets redacted, a child per component or job.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  name?: string;
  destination?: DestinationStream;
}

/** Field paths whose values must never reach a log line. */
const REDACT = [
  'token',
  'agentToken',
  'platformToken',
  'enrollToken',
  'credential',
  'bearer',
  'smtpUrl',
  'password',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'config.agentToken',
  'config.platformToken',
  'config.enrollToken',
  'config.smtpUrl',
  'config.redisUrl',
];

export function createLogger(opts: LoggerOptions = {}): Logger {
  const options = {
    level: opts.level ?? 'info',
    base: { name: opts.name ?? 'httpagent', pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: for tests and library use without output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
