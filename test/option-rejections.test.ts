// Options refused at register that no other file reaches: each with its code and a message naming
// the option and what to pass instead; the app never starts.
import t from 'tap'
import Fastify from 'fastify'
import { plugin, KEY1 } from './helpers/app.js'

async function registerError (t: { teardown: (fn: () => unknown) => void }, options: unknown, twice = false): Promise<Error & { code?: string }> {
  const app = Fastify()
  t.teardown(() => app.close().catch(() => {}))
  app.register(plugin, options as Record<string, unknown>)
  if (twice) app.register(plugin, { keys: KEY1.entry, cookieName: 'other' })
  return await app.ready().then(() => { throw new Error('register succeeded') }, (err: Error) => err)
}

t.test('an entry of the options array that is not an object', async (t) => {
  for (const bad of [null, 'keys', [KEY1.entry]]) {
    const err = await registerError(t, [bad])
    t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION', JSON.stringify(bad))
    t.equal(err.message, 'Invalid option "options": pass an options object with at least `keys`.')
  }
})

t.test('affinityCookie must be a cookie name', async (t) => {
  for (const bad of ['has space', '', 42]) {
    const err = await registerError(t, { keys: KEY1.entry, affinityCookie: bad })
    t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION', String(bad))
    t.equal(err.message, 'Invalid option "affinityCookie": it must be a cookie name (an RFC 6265 token).')
  }
})

t.test('keyManagement is "dir" or "A256KW", nothing else', async (t) => {
  for (const bad of ['A128KW', 'RSA-OAEP', true]) {
    const err = await registerError(t, { keys: KEY1.entry, keyManagement: bad })
    t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION', String(bad))
    t.equal(err.message, 'Invalid option "keyManagement": it must be "dir" (default) or "A256KW".')
  }
})

t.test('cookie.partitioned must be a boolean', async (t) => {
  const err = await registerError(t, { keys: KEY1.entry, cookie: { partitioned: 'yes' } })
  t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION')
  t.equal(err.message, 'Invalid option "cookie.partitioned": it must be a boolean.')
})

t.test('a second registration of the same sessionName in one scope', async (t) => {
  const err = await registerError(t, { keys: KEY1.entry }, true)
  t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION')
  t.equal(err.message, 'Invalid option "sessionName": "session" is already registered in this scope.')
})

t.test('a key set whose JWK or { kid, key } entry is not an object, or a JWK Set text without a keys array', async (t) => {
  const jwk = await registerError(t, { keys: { keys: [null] } })
  t.equal(jwk.code, 'FST_ENCSESS_INVALID_KEY_SET')
  t.match(jwk.message, /^Invalid session key set: JWK 1 is not an object\./)
  const pair = await registerError(t, { keys: [{ kid: 'k1', key: KEY1.key }, 'k2'] })
  t.equal(pair.code, 'FST_ENCSESS_INVALID_KEY_SET')
  t.match(pair.message, /^Invalid session key set: entry 2 is not an object \{ kid, key \}\./)
  const list = await registerError(t, { keys: '{"keys": 5}' })
  t.equal(list.code, 'FST_ENCSESS_INVALID_KEY_SET')
  t.match(list.message, /^Invalid session key set: a JWK Set needs a "keys" array\./)
})

t.test('usageBudget must be an object, and its warnAt a fraction in (0, 1]', async (t) => {
  for (const bad of ['half', 7]) {
    const err = await registerError(t, { keys: KEY1.entry, usageBudget: bad })
    t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION', String(bad))
    t.equal(err.message, 'Invalid option "usageBudget": it must be an object { limit, warnAt }.')
  }
  for (const warnAt of ['0.5', 0, -0.1, 1.5, Number.NaN]) {
    const err = await registerError(t, { keys: KEY1.entry, usageBudget: { warnAt } })
    t.equal(err.code, 'FST_ENCSESS_INVALID_OPTION', String(warnAt))
    t.equal(err.message, 'Invalid option "usageBudget.warnAt": it must be a fraction in (0, 1].')
  }
})
