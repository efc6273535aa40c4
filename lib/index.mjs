// ESM entry: the CommonJS build is the single implementation; this file only re-exports it, so
// `import` and `require` users share one plugin instance and one set of error classes.
import plugin from './index.js'

export default plugin
export const {
  fastifyEncryptedSession,
  errors,
  generateKey,
  envKeys,
  fileKeys,
  kmsKeys,
  SessionManager,
  MemoryStore,
  RedisStore
} = plugin
