import { pino } from 'pino'

export type Logger = pino.Logger

/**
 * Structured JSON logs on stderr (stdout is kept for machine-readable output), quiet by default:
 * warnings and errors only, unless --log-level or DELTACAST_LOG_LEVEL says otherwise.
 */
export function createLogger (name: string, level?: string): Logger {
  return pino({ name, level: level ?? process.env.DELTACAST_LOG_LEVEL ?? 'warn' }, pino.destination(2))
}
