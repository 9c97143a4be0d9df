// Structured logs (pino): one JSON object per line with time, level, name and message, for the
// control plane of `vmsg route` (links up and down, devices added and removed, shutdown). The
// per-frame path never logs; counters are for that (metrics, Router.stats()).
import { pino, destination, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class LogLevelError extends RangeError {
  override name = 'LogLevelError';
}

/** Check a level given by a user (flag or config file); the error lists the accepted ones. */
export function parseLogLevel(text: unknown, where = 'log level'): LogLevel {
  if (typeof text === 'string' && (LOG_LEVELS as readonly string[]).includes(text)) return text as LogLevel;
  throw new LogLevelError(`${where} ${JSON.stringify(text)} is not one of ${LOG_LEVELS.join(', ')}`);
}

export interface LoggerOptions {
  /** Default 'info'. */
  level?: LogLevel | string;
  /** The `name` field of every line. Default 'vmsg-router'. */
  name?: string;
  /**
   * Where lines go: a file path (appended), a file descriptor, or a stream. Default: standard
   * error (fd 2), leaving standard output to the command's own results.
   */
  destination?: string | number | DestinationStream;
}

/**
 * A pino logger. Writes are synchronous: the volume is small (control-plane events) and a line
 * written just before the process exits is never lost.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = parseLogLevel(opts.level ?? 'info');
  const dest = opts.destination ?? 2;
  const stream = typeof dest === 'string' || typeof dest === 'number' ? destination({ dest, sync: true, mkdir: typeof dest === 'string' }) : dest;
  return pino({ level, name: opts.name ?? 'vmsg-router', timestamp: stdTimeFunctions.isoTime, base: { pid: process.pid } }, stream);
}
