// The `keys` option: every accepted format, and every way a key set is refused at register.
import t from 'tap'
import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { parseKeySet } from '../lib/keys/parse.js'
import { plugin, generateKey, KEY1, KEY2 } from './helpers/app.js'

const b64 = (n: number): string => randomBytes(n).toString('base64url')

async function registerError (keys: unknown): Promise<Error & { code?: string }> {
  const app = Fastify()
  app.register(plugin, { keys } as never)
  try {
    await app.ready()
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await app.close()
  }
  throw new Error('register did not fail')
}

t.test('SESSION_KEYS string: first entry is current, the rest decrypt only', async (t) => {
  const keys = parseKeySet(` ${KEY1.entry} , ${KEY2.entry}`)
  t.same(keys.map((k) => k.kid), ['k1', 'k2'])
  t.equal(keys[0]!.bytes.toString('base64url'), KEY1.key)
  t.equal(keys[0]!.bytes.length, 32)
})

t.test('JWK Set as JSON string and as object', async (t) => {
  const jwks = { keys: [KEY2.jwk, { kty: 'oct', kid: 'k1', k: KEY1.key }] }
  t.same(parseKeySet(JSON.stringify(jwks)).map((k) => k.kid), ['k2', 'k1'])
  t.same(parseKeySet(jwks).map((k) => k.kid), ['k2', 'k1'])
})

t.test('array of { kid, key } with base64url strings or bytes', async (t) => {
  const keys = parseKeySet([{ kid: 'a', key: KEY1.key }, { kid: 'b', key: randomBytes(32) }])
  t.same(keys.map((k) => k.kid), ['a', 'b'])
})

t.test('no keys: register fails and says how to generate one', async (t) => {
  for (const keys of [undefined, '', null]) {
    const err = await registerError(keys)
    t.equal(err.code, 'FST_ENCSESS_NO_KEYS')
    t.match(err.message, /npx fastify-encrypted-session keygen/)
  }
})

t.test('bad key sets fail register with a coded error naming the kid and never the key', async (t) => {
  const long = b64(33)
  const short = b64(16)
  const cases: [string, unknown, string, RegExp][] = [
    ['short key', `k1:${short}`, 'FST_ENCSESS_INVALID_KEY', /"k1".*128 bits, not 256/],
    ['long key', `k1:${long}`, 'FST_ENCSESS_INVALID_KEY', /"k1".*264 bits, not 256/],
    ['padded base64', `k1:${KEY1.key}=`, 'FST_ENCSESS_INVALID_KEY', /"k1".*not unpadded base64url/],
    ['standard base64 alphabet', `k1:${KEY1.key.slice(0, 42)}+`, 'FST_ENCSESS_INVALID_KEY', /"k1"/],
    ['non-canonical last char', `k1:${KEY1.key.slice(0, 42)}B`, 'FST_ENCSESS_INVALID_KEY', /"k1".*not canonical/],
    ['all-zero key', `k1:${Buffer.alloc(32).toString('base64url')}`, 'FST_ENCSESS_INVALID_KEY', /"k1".*not random/],
    ['bytes of wrong length', [{ kid: 'raw', key: randomBytes(31) }], 'FST_ENCSESS_INVALID_KEY', /"raw".*248 bits/],
    ['missing key in pair', [{ kid: 'raw' }], 'FST_ENCSESS_INVALID_KEY', /"raw".*missing/],
    ['duplicate kid', `k1:${KEY1.key},k1:${KEY2.key}`, 'FST_ENCSESS_DUPLICATE_KEY', /kid "k1" appears twice/],
    ['duplicate key bytes', `a:${KEY1.key},b:${KEY1.key}`, 'FST_ENCSESS_DUPLICATE_KEY', /"a" and "b" hold the same key bytes/],
    ['kid with bad characters', `k 1:${KEY1.key}`, 'FST_ENCSESS_INVALID_KEY_SET', /entry 1 has no valid kid/],
    ['kid too long', `${'k'.repeat(65)}:${KEY1.key}`, 'FST_ENCSESS_INVALID_KEY_SET', /entry 1 has no valid kid/],
    ['entry without colon', KEY1.key, 'FST_ENCSESS_INVALID_KEY_SET', /entry 1 is not of the form "kid:key"/],
    ['empty JWK Set', { keys: [] }, 'FST_ENCSESS_INVALID_KEY_SET', /holds no key/],
    ['empty array', [], 'FST_ENCSESS_INVALID_KEY_SET', /holds no key/],
    ['broken JSON', '{"keys": [', 'FST_ENCSESS_INVALID_KEY_SET', /not valid JSON/],
    ['JWK of another kty', { keys: [{ kty: 'RSA', kid: 'r', k: KEY1.key }] }, 'FST_ENCSESS_INVALID_KEY', /"r".*kty "oct"/],
    ['JWK for another alg', { keys: [{ kty: 'oct', kid: 'h', k: KEY1.key, alg: 'HS256' }] }, 'FST_ENCSESS_INVALID_KEY', /"h".*"alg"/],
    ['JWK for signing', { keys: [{ kty: 'oct', kid: 's', k: KEY1.key, use: 'sig' }] }, 'FST_ENCSESS_INVALID_KEY', /"s".*"use"/],
    ['JWK without kid', { keys: [{ kty: 'oct', k: KEY1.key }] }, 'FST_ENCSESS_INVALID_KEY_SET', /no valid kid/],
    ['number', 42, 'FST_ENCSESS_INVALID_KEY_SET', /got number/],
    ['second entry bad', `${KEY1.entry},old:${short}`, 'FST_ENCSESS_INVALID_KEY', /"old"/]
  ]
  for (const [name, keys, code, message] of cases) {
    const err = await registerError(keys)
    t.equal(err.code, code, `${name}: code`)
    t.match(err.message, message, `${name}: message`)
    t.match(err.message, /keygen|kid|key/, `${name}: says how to fix`)
    for (const secret of [KEY1.key, KEY2.key, short, long, KEY1.key.slice(0, 20)]) {
      t.notOk(err.message.includes(secret) || String(err.stack).includes(secret), `${name}: no key bytes in the error`)
    }
  }
})

t.test('generateKey makes distinct 256-bit keys in both forms', async (t) => {
  const a = generateKey('x')
  const b = generateKey('x')
  t.not(a.key, b.key)
  t.equal(Buffer.from(a.key, 'base64url').length, 32)
  t.equal(a.entry, `x:${a.key}`)
  t.same(a.jwk, { kty: 'oct', kid: 'x', k: a.key, alg: 'dir', use: 'enc' })
  t.match(generateKey().kid, /^k\d{8}-[0-9a-f]{6}$/)
})
