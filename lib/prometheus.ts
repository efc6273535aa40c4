// Exposes the counters on a prom-client Registry the app passes in (fastify-metrics' registry
// works). prom-client is not imported: a registry accepts any object with name/help/type and a
// get() that returns the values, so apps without Prometheus do not need the package.
import type { Histogram, Metrics } from './metrics.js'
import { errors } from './errors.js'

/** The part of prom-client's Registry this file uses. */
export interface RegistryLike {
  registerMetric (metric: unknown): void
  getSingleMetric (name: string): unknown
}

interface Value { value: number, labels: Record<string, string | number>, metricName?: string }
type Sources = Map<string, Metrics>

const PREFIX = 'fastify_encrypted_session_'
// One set of metric objects per registry, fed by every registration that uses it; each
// registration's values carry its session name as a label.
const perRegistry = new WeakMap<object, Sources>()

export function checkRegistry (registry: unknown): RegistryLike {
  const r = registry as Partial<RegistryLike> | null
  if (r === null || typeof r !== 'object' || typeof r.registerMetric !== 'function' || typeof r.getSingleMetric !== 'function') {
    throw new errors.FST_ENCSESS_INVALID_OPTION('metricsRegistry', 'it must be a prom-client Registry (e.g. `register` from prom-client, or fastify-metrics\' client.register)')
  }
  return r as RegistryLike
}

export function exportToPrometheus (registry: RegistryLike, session: string, metrics: Metrics): void {
  let sources = perRegistry.get(registry)
  if (sources === undefined) {
    sources = new Map()
    perRegistry.set(registry, sources)
    for (const metric of definitions(sources)) registry.registerMetric(metric)
  }
  sources.set(session, metrics)
}

function definitions (sources: Sources): object[] {
  const counter = (name: string, help: string, values: (m: Metrics, session: string) => Value[]): object =>
    metric(`${PREFIX}${name}`, help, 'counter', () => collect(sources, values))
  const histogram = (name: string, help: string, pick: (m: Metrics) => Histogram): object =>
    metric(`${PREFIX}${name}`, help, 'histogram', () => collect(sources, (m, session) => histogramValues(`${PREFIX}${name}`, pick(m), session)))
  return [
    counter('decode_total', 'Session cookies opened, by outcome ("ok" or the reason they were refused).', (m, session) => [
      { value: m.opened, labels: { session, outcome: 'ok' } },
      ...Object.entries(m.rejected).map(([outcome, value]) => ({ value, labels: { session, outcome } }))
    ]),
    counter('cache_hits_total', 'Opens answered from the authenticated-token cache.', (m, session) => [{ value: m.cacheHits, labels: { session } }]),
    counter('stored_cache_hits_total', 'Offloaded reads whose value was already authenticated here (fetched, not decrypted).', (m, session) => [{ value: m.storedCacheHits, labels: { session } }]),
    counter('sealed_total', 'Tokens sealed, by kid (kids of the configured key set only).', (m, session) =>
      Object.entries(m.sealed).map(([kid, value]) => ({ value, labels: { session, kid } }))),
    counter('decrypted_total', 'Tokens opened, by kid: shows when an old key is no longer in use.', (m, session) =>
      Object.entries(m.decrypted).map(([kid, value]) => ({ value, labels: { session, kid } }))),
    counter('rotated_total', 'Cookies re-sealed because a decrypt-only key had sealed them.', (m, session) => [{ value: m.rotated, labels: { session } }]),
    counter('offloaded_total', 'Sessions moved from the cookie to the store.', (m, session) => [{ value: m.offloaded, labels: { session } }]),
    counter('returned_to_cookie_total', 'Sessions moved from the store back into the cookie.', (m, session) => [{ value: m.returnedToCookie, labels: { session } }]),
    counter('store_operations_total', 'Store reads and writes, by result.', (m, session) =>
      Object.entries(m.store).map(([result, value]) => ({ value, labels: { session, result } }))),
    counter('too_large_total', 'Responses refused because the session did not fit in a cookie.', (m, session) => [{ value: m.tooLarge, labels: { session } }]),
    histogram('cookie_bytes', 'Size of each session Set-Cookie written, in bytes.', (m) => m.cookieBytes),
    histogram('store_duration_seconds', 'Duration of each store call, in seconds.', (m) => m.storeSeconds)
  ]
}

function metric (name: string, help: string, type: 'counter' | 'histogram', values: () => Value[]): object {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset () {}
  }
}

function collect (sources: Sources, values: (m: Metrics, session: string) => Value[]): Value[] {
  const out: Value[] = []
  for (const [session, m] of sources) out.push(...values(m, session))
  return out
}

function histogramValues (name: string, h: Histogram, session: string): Value[] {
  const out: Value[] = []
  let cumulative = 0
  h.buckets.forEach((le, i) => {
    cumulative += h.counts[i]!
    out.push({ metricName: `${name}_bucket`, value: cumulative, labels: { session, le } })
  })
  out.push({ metricName: `${name}_bucket`, value: h.count, labels: { session, le: '+Inf' } })
  out.push({ metricName: `${name}_sum`, value: h.sum, labels: { session } })
  out.push({ metricName: `${name}_count`, value: h.count, labels: { session } })
  return out
}
