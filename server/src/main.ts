#!/usr/bin/env node
import { buildCommand, parseConfig } from './config.js'
import { DEFAULT_DHT_PORT } from './dht/default-dht-port.js'
import { createLogger } from './logger.js'
import { startupErrorSentence } from './startup-error.js'

// `passage-server`: parse flags and environment, start, and shut down gracefully on
// SIGTERM/SIGINT (stop accepting, finish in-flight requests, close storage, exit 0).
// A second signal while shutting down exits at once. A start-up failure the operator can
// fix (a port in use, Postgres unreachable, the data folder unwritable) is one sentence on
// stderr saying what to do, and exit 1; anything else is logged with its stack.

// The DHT node always runs in passage-server: on DEFAULT_DHT_PORT unless told otherwise.
const DHT_HELP = `
DHT (UDP): the node listens on --http-host, port --dht-port (default ${DEFAULT_DHT_PORT};
0 picks a free one), and joins through every --bootstrap node (retrying with backoff).
Mailboxes, records and the routing table's contacts are kept in the same storage.
/readyz fails while --bootstrap nodes are configured and none is verified yet.`
const parsed = parseConfig(process.argv, buildCommand().addHelpText('after', DHT_HELP))
const config = { ...parsed, dhtPort: parsed.dhtPort ?? DEFAULT_DHT_PORT }
const logger = createLogger(config.logLevel, undefined, config.logFormat)

try {
  // Loaded after parsing, so that `--help` and bad flags answer without loading storage.
  const { startServer } = await import('./start-server.js')
  const server = await startServer({ config, logger })
  let stopping = false
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    const started = Date.now()
    logger.info({ signal }, 'shutting down: finishing in-flight requests')
    server.close().then(
      () => {
        logger.info({ signal, ms: Date.now() - started }, 'stopped')
        process.exit(0)
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
} catch (error) {
  const sentence = startupErrorSentence(error, config)
  if (sentence) {
    logger.debug({ err: error }, 'start-up failure in detail')
    process.stderr.write(`passage-server: ${sentence}\n`)
  } else {
    logger.fatal({ err: error }, 'passage-server failed to start')
    const message = error instanceof Error ? error.message : String(error)
    process.stderr.write(`passage-server could not start: ${message}\n`)
  }
  process.exitCode = 1
}
