// Types of the ESM entry (dist/lib/index.mjs), which re-exports the CommonJS build: the same
// declarations as index.d.ts, seen from `import`, so that TypeScript reads this entry as ESM.
import fastifyEncryptedSession from './index.js'

export default fastifyEncryptedSession
export {
  fastifyEncryptedSession,
  errors,
  generateKey,
  envKeys,
  fileKeys,
  kmsKeys,
  MemoryStore,
  RedisStore
} from './index.js'
export type {
  SessionData,
  EffectiveSessionData,
  CookieOptions,
  KeyInput,
  JsonWebKeySet,
  KeySet,
  KeyProvider,
  FastifyEncryptedSessionOptions,
  Session,
  StoreEntry,
  SessionStore,
  RejectReason,
  MetricsSnapshot,
  SessionManager,
  SessionManagers,
  GeneratedKey,
  ErrorCode,
  EncryptedSessionError,
  KmsClientLike,
  KmsWrappedKey,
  KmsKeysOptions,
  MemoryStoreOptions,
  RedisClientLike,
  RedisStoreOptions
} from './index.js'
