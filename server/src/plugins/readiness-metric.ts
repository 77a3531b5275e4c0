import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import { METRIC_PREFIX } from '../metrics.js'

/** A readiness check that has not answered in this long counts as failed (as /readyz). */
const READINESS_TIMEOUT_MS = 2_000

async function passes(check: () => Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), READINESS_TIMEOUT_MS)
    timer.unref()
  })
  try {
    await Promise.race([check(), timeout])
    return true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `passage_ready`: 1 when every readiness check of `/readyz` passes at scrape time, else 0,
 * so an alert can fire on readiness without a blackbox prober. Left alone when another part
 * of the server already exports a metric of that name.
 */
export const readinessMetricPlugin = fp(
  async (app: FastifyInstance) => {
    const { metrics, readinessChecks } = app.passage
    const name = `${METRIC_PREFIX}ready`
    if (metrics.registry.getSingleMetric(name)) return
    new Gauge({
      name,
      help: '1 when every /readyz check (storage, DHT) passes at scrape time, 0 otherwise.',
      registers: [metrics.registry],
      async collect() {
        const results = await Promise.all(readinessChecks.map((c) => passes(() => c.check())))
        this.set(results.every(Boolean) ? 1 : 0)
      },
    })
  },
  { name: 'passage-readiness-metric', dependencies: ['passage-context'] },
)
