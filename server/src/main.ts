#!/usr/bin/env node
import { parseConfig } from './config.js'
import { createLogger } from './logger.js'

// `passage-server`: parse flags and environment, start, and shut down gracefully on
// SIGTERM/SIGINT (stop accepting, finish in-flight requests, close storage, exit 0).
// A second signal while shutting down exits at once.

const config = parseConfig(process.argv)
const logger = createLogger(config.logLevel)

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
    logger.info({ signal }, 'shutting down: finishing in-flight requests')
    server.close().then(
      () => {
        logger.info('stopped')
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
  logger.fatal({ err: error }, 'passage-server failed to start')
  process.exitCode = 1
}
