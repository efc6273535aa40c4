// Keys that are text are refused at register, in every form the key set takes: 32 printable ASCII
// bytes are a password or a phrase, not 256 random bits. Random keys, even ones with many
// printable bytes, are accepted.
import t from 'tap'
import Fastify from 'fastify'
import { randomBytes } from 'node:crypto'
import { plugin, KEY1 } from './helpers/app.js'

async function register (keys: unknown): Promise<Error & { code?: string } | undefined> {
  const app = Fastify()
  try {
    await app.register(plugin, { keys: keys as never, cookie: { secure: false } })
    await app.ready()
    return undefined
  } catch (err) {
    return err as Error & { code?: string }
  } finally {
    await app.close()
  }
}

const PHRASE = Buffer.from('correct horse battery staple 12!')
const HEX = Buffer.from(randomBytes(16).toString('hex'))
// The edges of the printable range: space and tilde.
const EDGES = Buffer.from(' ~'.repeat(16))

t.test('a text key is refused in every form, naming the kid and how to make a key', async (t) => {
  t.equal(PHRASE.length, 32)
  const forms: [string, unknown, string][] = [
    ['env string', `pw:${PHRASE.toString('base64url')}`, 'pw'],
    ['JWK Set', { keys: [{ kty: 'oct', kid: 'jwk', k: PHRASE.toString('base64url') }] }, 'jwk'],
    ['JWK Set as a string', JSON.stringify({ keys: [{ kty: 'oct', kid: 'jwks', k: HEX.toString('base64url') }] }), 'jwks'],
    ['array with bytes', [{ kid: 'buf', key: PHRASE }], 'buf'],
    ['array with a Uint8Array', [{ kid: 'u8', key: new Uint8Array(HEX) }], 'u8'],
    ['array with base64url', [{ kid: 'b64', key: EDGES.toString('base64url') }], 'b64'],
    ['second key of a set', `${KEY1.entry},old:${HEX.toString('base64url')}`, 'old']
  ]
  for (const [name, keys, kid] of forms) {
    const err = await register(keys)
    t.equal(err?.code, 'FST_ENCSESS_INVALID_KEY', name)
    t.match(err?.message, new RegExp(`"${kid}".*printable ASCII.*npx fastify-encrypted-session keygen`), `${name}: names the kid and keygen`)
    t.notOk(err?.message.includes(PHRASE.toString('base64url')) || err?.message.includes('horse'), `${name}: no key material`)
  }
})

t.test('random keys are accepted, including one that is printable but for one byte', async (t) => {
  for (let i = 0; i < 20; i++) t.equal(await register([{ kid: `r${i}`, key: randomBytes(32) }]), undefined)
  const almost = Buffer.from(PHRASE)
  almost[31] = 0x7f // just past the printable range
  t.equal(await register([{ kid: 'almost', key: almost }]), undefined)
  const low = Buffer.from(PHRASE)
  low[0] = 0x1f // just before it
  t.equal(await register(`low:${low.toString('base64url')}`), undefined)
  // Random bytes with the top bit set are outside ASCII whatever else they are.
  const mostlyText = randomBytes(32).map((b) => b | 0x80)
  PHRASE.copy(mostlyText, 0, 0, 24)
  t.equal(await register({ keys: [{ kty: 'oct', kid: 'mostly', k: Buffer.from(mostlyText).toString('base64url') }] }), undefined, '24 printable bytes of 32: accepted')
})
