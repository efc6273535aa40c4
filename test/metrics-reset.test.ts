// The plugin's counters belong to the plugin: a prom-client registry reset (resetMetrics(), as
// some apps do between scrapes or tests) leaves them as they are, so counters never go backwards.
import t from 'tap'
import { Registry } from 'prom-client'
import { build } from './helpers/app.js'

t.test('resetMetrics() on the registry keeps the session counters', async (t) => {
  const registry = new Registry()
  const { app } = await build(t, { metricsRegistry: registry })
  await app.inject({ method: 'POST', url: '/incr' })
  const value = async (): Promise<number | undefined> => {
    const metrics = await registry.getMetricsAsJSON()
    return metrics.find((m) => m.name === 'fastify_encrypted_session_sealed_total')?.values.reduce((sum, v) => sum + v.value, 0)
  }
  t.equal(await value(), 1)
  registry.resetMetrics()
  t.equal(await value(), 1, 'unchanged by the reset')
  await app.inject({ method: 'POST', url: '/incr' })
  t.equal(await value(), 2)
})
