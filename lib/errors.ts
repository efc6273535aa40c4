// The error catalogue. Every error the plugin raises is built here, so that codes stay stable and a
// test can hold this list, the public types and the README's table in agreement.
import createError from '@fastify/error'

export const errors = {
  /** No `keys` option was given (there is deliberately no default key). */
  FST_ENCSESS_NO_KEYS: createError<'FST_ENCSESS_NO_KEYS', 500, []>(
    'FST_ENCSESS_NO_KEYS',
    'No session keys were configured. Generate one with `npx fastify-encrypted-session keygen` and pass it as the `keys` option, e.g. `keys: process.env.SESSION_KEYS`.',
    500,
    TypeError
  ),
  /** The key set is malformed as a whole (wrong type, bad JSON, empty). */
  FST_ENCSESS_INVALID_KEY_SET: createError<'FST_ENCSESS_INVALID_KEY_SET', 500, [string]>(
    'FST_ENCSESS_INVALID_KEY_SET',
    'Invalid session key set: %s. Expected "kid:base64url-key,..." (SESSION_KEYS format), a JWK Set of "oct" keys, or an array of { kid, key }; `npx fastify-encrypted-session keygen` prints a valid entry.',
    500,
    TypeError
  ),
  /** One key of the set is unusable. The message names the kid, never the key bytes. */
  FST_ENCSESS_INVALID_KEY: createError<'FST_ENCSESS_INVALID_KEY', 500, [string, string]>(
    'FST_ENCSESS_INVALID_KEY',
    'Invalid session key "%s": %s. Keys must be exactly 32 random bytes (256 bits); generate one with `npx fastify-encrypted-session keygen`.',
    500,
    TypeError
  ),
  /** Two keys share a kid, or two kids share the same key bytes. */
  FST_ENCSESS_DUPLICATE_KEY: createError<'FST_ENCSESS_DUPLICATE_KEY', 500, [string]>(
    'FST_ENCSESS_DUPLICATE_KEY',
    'Duplicate session key: %s. Every key needs its own kid and its own random bytes.',
    500,
    TypeError
  ),
  /** The key provider failed on every try at startup: the plugin never serves without keys. */
  FST_ENCSESS_KEYS_UNAVAILABLE: createError<'FST_ENCSESS_KEYS_UNAVAILABLE', 500, [number, string]>(
    'FST_ENCSESS_KEYS_UNAVAILABLE',
    'The session keys could not be loaded after %s tries (last error: %s). Check the key source (environment, file, KMS) and its credentials; the plugin does not start without keys.',
    500
  ),
  /** An option other than the keys has a wrong type or value. */
  FST_ENCSESS_INVALID_OPTION: createError<'FST_ENCSESS_INVALID_OPTION', 500, [string, string]>(
    'FST_ENCSESS_INVALID_OPTION',
    'Invalid option "%s": %s.',
    500,
    TypeError
  ),
  /** The sealed session does not fit in one cookie and there is no store to offload it to. */
  FST_ENCSESS_COOKIE_TOO_LARGE: createError<'FST_ENCSESS_COOKIE_TOO_LARGE', 500, [number, number]>(
    'FST_ENCSESS_COOKIE_TOO_LARGE',
    'The session cookie would be %s bytes, over maxCookieSize (%s). Keep less data in the session, or configure a `store` so that large sessions are offloaded.',
    500
  ),
  /** The store did not answer in time or failed; the request that needed it cannot go on. */
  FST_ENCSESS_STORE_UNAVAILABLE: createError<'FST_ENCSESS_STORE_UNAVAILABLE', 503, [string, { cause: unknown }?]>(
    'FST_ENCSESS_STORE_UNAVAILABLE',
    'The session store is unavailable (%s). Retry later; check the store and the client options described under "Redis deployment" in the README.',
    503
  ),
  /** Another request changed or ended the same offloaded session first. */
  FST_ENCSESS_STORE_CONFLICT: createError<'FST_ENCSESS_STORE_CONFLICT', 409, []>(
    'FST_ENCSESS_STORE_CONFLICT',
    'The session was changed or ended by another request at the same time; this change was not saved. Reload and try again.',
    409
  ),
  /** @fastify/cookie was registered after this plugin, which had already registered it. */
  FST_ENCSESS_COOKIE_ORDER: createError<'FST_ENCSESS_COOKIE_ORDER', 500, []>(
    'FST_ENCSESS_COOKIE_ORDER',
    '@fastify/cookie was registered after fastify-encrypted-session, which had already registered it for you with default options, so your options (such as a secret) could not apply. Register @fastify/cookie with your options before fastify-encrypted-session.',
    500
  ),
  /** Session data that JSON cannot represent: a cycle, a BigInt, nesting deeper than MAX_DEPTH. */
  FST_ENCSESS_INVALID_SESSION_DATA: createError<'FST_ENCSESS_INVALID_SESSION_DATA', 500, [string, string]>(
    'FST_ENCSESS_INVALID_SESSION_DATA',
    'Session data under key "%s" cannot be stored: %s. Session values must be JSON: plain objects and arrays (nested at most 100 levels), strings, finite numbers, booleans and null.',
    500,
    TypeError
  ),
  /** Even offloaded, the sealed session would be longer than the plugin ever stores (MAX_STORED_LENGTH). */
  FST_ENCSESS_SESSION_TOO_LARGE: createError<'FST_ENCSESS_SESSION_TOO_LARGE', 500, [number, number]>(
    'FST_ENCSESS_SESSION_TOO_LARGE',
    'The sealed session would be %s characters, over the %s that the plugin stores for one session. Keep large data (files, caches) elsewhere and only its id in the session.',
    500
  ),
  /** endUserSessions, endSession or listUserSessions was given something that is not a user id. */
  FST_ENCSESS_INVALID_USER_ID: createError<'FST_ENCSESS_INVALID_USER_ID', 500, [string]>(
    'FST_ENCSESS_INVALID_USER_ID',
    'Invalid user id (got a %s). Pass the id that `userKey` reads from the session data: a non-empty string of at most 1024 characters or a finite number.',
    500,
    TypeError
  ),
  /**
   * With a store, request.session was read before the plugin's onRequest hook loaded it, for a
   * session that only the store can vouch for (revocation, offloaded data, a user's list).
   */
  FST_ENCSESS_SESSION_NOT_LOADED: createError<'FST_ENCSESS_SESSION_NOT_LOADED', 500, []>(
    'FST_ENCSESS_SESSION_NOT_LOADED',
    'request.session was read before fastify-encrypted-session loaded it from the store, in a hook that runs before the plugin\'s onRequest hook (hooks run in the order they are added). Register fastify-encrypted-session before that hook, or read the session from a preValidation or preHandler hook.',
    500
  )
} as const

export type ErrorCode = keyof typeof errors
