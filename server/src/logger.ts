import { pino, type DestinationStream, type Logger } from 'pino'
import type { LogFormat, LogLevel } from './config.js'

/** pino's numeric levels, as the pretty format names them. */
const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
/** Fields every line has (or that say nothing to a person): left out of the pretty line. */
const PRETTY_HIDDEN = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'err'])

/** One pino JSON line as a line for people: `19:28:24.875 INFO  message key=value …`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : ''
  const level = (LEVEL_NAMES[entry.level as number] ?? String(entry.level)).padEnd(5)
  const fields = Object.entries(entry)
    .filter(([key]) => !PRETTY_HIDDEN.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
  const err = entry.err as { message?: string; stack?: string } | undefined
  const parts = [time, level, String(entry.msg ?? ''), ...fields]
  if (err?.message) parts.push(`error=${err.message}`)
  let line = parts.filter((p) => p !== '').join(' ')
  // A stack is for a bug report: shown indented under the line, at error and above only.
  if (err?.stack && (entry.level as number) >= 50) {
    line += `\n${err.stack.replace(/^/gm, '    ')}`
  }
  return `${line}\n`
}

/** A pino destination that writes {@link prettyLine}s to `out` (stdout by default). */
export function prettyStream(out: { write(text: string): unknown } = process.stdout) {
  return { write: (json: string) => out.write(prettyLine(json.replace(/\n$/, ''))) }
}

/**
 * The server's logger: JSON lines by default (for Docker and log collectors), or
 * {@link prettyLine}s for people (`--log-format pretty`). Requests are logged by route
 * pattern and status only; the serializers below make sure a request or reply object
 * logged anywhere carries no client address, URL, ID or key either.
 */
export function createLogger(
  level: LogLevel,
  destination?: DestinationStream,
  format: LogFormat = 'json',
): Logger {
  const options = {
    level,
    base: { service: 'passage-server' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      req: (request: { method?: string; routeOptions?: { url?: string } }) => ({
        method: request.method,
        route: request.routeOptions?.url,
      }),
      res: (reply: { statusCode?: number }) => ({ statusCode: reply.statusCode }),
      err: pino.stdSerializers.err,
    },
  }
  if (format === 'pretty') return pino(options, prettyStream(destination ?? process.stdout))
  return destination ? pino(options, destination) : pino(options)
}
