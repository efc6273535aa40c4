// The package entry: validates options, builds one SessionManager per registration, and exports
// the public API. CommonJS `module.exports` is the plugin itself, with every named export on it.
import fp from 'fastify-plugin'
// The public declarations augment FastifyRequest/FastifyInstance; compiling against them keeps lib honest.
import type {} from '../types/index.js'
import type { FastifyInstance } from 'fastify'
import { errors } from './errors.js'
import { ensureCookiePlugin } from './cookie-plugin.js'
import { attach } from './lifecycle.js'
import { SessionManager } from './manager.js'
import { normalizeOptions, type SessionOptions } from './options.js'
import { generateKey } from './keys/generate.js'
import { exportToPrometheus } from './prometheus.js'
import { envKeys, fileKeys } from './keys/providers.js'
import { kmsKeys } from './keys/kms.js'
import { KeyRefresher, loadInitialKeys } from './keys/refresher.js'
import { MemoryStore } from './stores/memory.js'
import { RedisStore } from './stores/redis.js'

async function encryptedSession (fastify: FastifyInstance, options: SessionOptions | readonly SessionOptions[]): Promise<void> {
  const list = Array.isArray(options) ? options : [options]
  if (list.length === 0) throw new errors.FST_ENCSESS_INVALID_OPTION('options', 'pass an options object, or a non-empty array of them')
  // Validate everything before touching the instance, so a bad option leaves no half registration.
  const configs = list.map((o) => normalizeOptions(o))
  for (const config of configs) {
    if (config.keyProvider !== undefined) config.keys = await loadInitialKeys(config.keyProvider, config.refresh, fastify.log)
  }
  const managers = configs.map((config) => new SessionManager(config, fastify.log))
  const names = new Set<string>()
  const cookies = new Set<string>()
  for (const { config } of managers) {
    if (names.has(config.sessionName)) throw new errors.FST_ENCSESS_INVALID_OPTION('sessionName', `"${config.sessionName}" is used by two sessions; give each its own`)
    if (cookies.has(config.cookieName)) throw new errors.FST_ENCSESS_INVALID_OPTION('cookieName', `"${config.cookieName}" is used by two sessions; give each its own`)
    names.add(config.sessionName)
    cookies.add(config.cookieName)
  }

  await ensureCookiePlugin(fastify)

  if (!fastify.hasDecorator('encryptedSession')) {
    const registry = new Map<string, SessionManager>()
    const api = {
      get (name = 'session') {
        const manager = registry.get(name)
        if (manager === undefined) throw new errors.FST_ENCSESS_INVALID_OPTION('name', `no session named "${name}" is registered here`)
        return manager
      },
      [kRegistry]: registry
    }
    // The public type narrows Session to the app's declared SessionData; the engine is untyped data.
    fastify.decorate('encryptedSession', api as unknown as FastifyInstance['encryptedSession'])
  }
  const registry = (fastify as unknown as { encryptedSession: { [kRegistry]: Map<string, SessionManager> } }).encryptedSession[kRegistry]
  for (const manager of managers) {
    if (registry.has(manager.config.sessionName)) {
      throw new errors.FST_ENCSESS_INVALID_OPTION('sessionName', `"${manager.config.sessionName}" is already registered in this scope`)
    }
    registry.set(manager.config.sessionName, manager)
    const { keyProvider, refresh, sessionName } = manager.config
    if (keyProvider !== undefined) {
      const refresher = new KeyRefresher(keyProvider, refresh, (keys) => manager.replaceRawKeys(keys), fastify.log.child({ session: sessionName }), manager.metrics.keyRefresh)
      manager.refresher = refresher
      refresher.start()
      fastify.addHook('onClose', async () => refresher.stop())
    }
    const users = manager.users
    if (users !== undefined) fastify.addHook('onClose', async () => users.close())
    attach(fastify, manager)
    if (manager.config.metricsRegistry !== undefined) exportToPrometheus(manager.config.metricsRegistry, manager.config.sessionName, manager.metrics)
  }
}

const kRegistry = Symbol('fastify-encrypted-session.registry')

const fastifyEncryptedSession = fp(encryptedSession, {
  fastify: '5.x',
  name: 'fastify-encrypted-session'
})

export = Object.assign(fastifyEncryptedSession, {
  default: fastifyEncryptedSession,
  fastifyEncryptedSession,
  errors,
  generateKey,
  envKeys,
  fileKeys,
  kmsKeys,
  SessionManager,
  MemoryStore,
  RedisStore
})
