// Decryption looks the key up by kid and refuses a bad header, IV or tag before any decryption work.
import t, { type Test } from 'tap'
import * as crypto from 'node:crypto'
import { KeyRing } from '../lib/keys/keyring.js'
import { parseKeySet } from '../lib/keys/parse.js'
import { KEY1, KEY2, generateKey } from './helpers/app.js'
import { joseToken } from './helpers/jose.js'

const b64 = (s: string): string => Buffer.from(s).toString('base64url')

async function countingCodec (t: Test): Promise<{ codec: import('../lib/codec.js').Codec, calls: () => number }> {
  let calls = 0
  const mocked = t.mockRequire('../lib/codec.js', {
    'node:crypto': {
      ...crypto,
      createDecipheriv: (...args: Parameters<typeof crypto.createDecipheriv>) => {
        calls++
        return crypto.createDecipheriv(...args)
      }
    }
  }) as typeof import('../lib/codec.js')
  // Ten keys: a trial-decrypting codec would show up as up to ten decryptions per token.
  const others = Array.from({ length: 8 }, (_, i) => generateKey(`old${i}`).entry)
  const ring = new KeyRing(parseKeySet([KEY1.entry, ...others, KEY2.entry].join(',')))
  return { codec: new mocked.Codec(ring), calls: () => calls }
}

t.test('a valid token costs exactly one decryption, whichever key sealed it', async (t) => {
  const { codec, calls } = await countingCodec(t)
  const token = await joseToken(KEY2, {})
  const opened = codec.open(token, 4096)
  t.not(typeof opened, 'string')
  t.equal(calls(), 1)
  t.equal((opened as { entry: { kid: string } }).entry.kid, 'k2')
})

t.test('tokens refused before any decryption work', async (t) => {
  const { codec, calls } = await countingCodec(t)
  const good = await joseToken(KEY1, {})
  const [h, , iv, ct, tag] = good.split('.') as [string, string, string, string, string]
  const cases: [string, string, string][] = [
    ['unknown kid', await joseToken(generateKey('stranger'), {}), 'unknown_kid'],
    ['alg other than dir', `${b64('{"alg":"A256KW","enc":"A256GCM","kid":"k1"}')}..${iv}.${ct}.${tag}`, 'header'],
    ['enc other than A256GCM', `${b64('{"alg":"dir","enc":"A128GCM","kid":"k1"}')}..${iv}.${ct}.${tag}`, 'header'],
    ['zip member', `${b64('{"alg":"dir","enc":"A256GCM","kid":"k1","zip":"DEF"}')}..${iv}.${ct}.${tag}`, 'header'],
    ['crit member', `${b64('{"alg":"dir","enc":"A256GCM","kid":"k1","crit":["exp"]}')}..${iv}.${ct}.${tag}`, 'header'],
    ['p2c member', `${b64('{"alg":"dir","enc":"A256GCM","kid":"k1","p2c":100000}')}..${iv}.${ct}.${tag}`, 'header'],
    ['jku member', `${b64('{"alg":"dir","enc":"A256GCM","kid":"k1","jku":"http://127.0.0.1/"}')}..${iv}.${ct}.${tag}`, 'header'],
    ['jwk member', `${b64('{"alg":"dir","enc":"A256GCM","kid":"k1","jwk":{}}')}..${iv}.${ct}.${tag}`, 'header'],
    ['kid not a string', `${b64('{"alg":"dir","enc":"A256GCM","kid":1}')}..${iv}.${ct}.${tag}`, 'header'],
    ['header not JSON', `${b64('{alg:dir}')}..${iv}.${ct}.${tag}`, 'header'],
    ['header an array', `${b64('["dir"]')}..${iv}.${ct}.${tag}`, 'header'],
    ['4-byte tag', `${h}..${iv}.${ct}.${tag.slice(0, 6)}`, 'malformed'],
    ['15-byte tag', `${h}..${iv}.${ct}.${Buffer.alloc(15, 1).toString('base64url')}`, 'malformed'],
    ['17-byte tag', `${h}..${iv}.${ct}.${Buffer.alloc(17, 1).toString('base64url')}`, 'malformed'],
    ['8-byte IV', `${h}..${Buffer.alloc(8, 1).toString('base64url')}.${ct}.${tag}`, 'malformed'],
    ['16-byte IV', `${h}..${Buffer.alloc(16, 1).toString('base64url')}.${ct}.${tag}`, 'malformed'],
    ['non-empty encrypted key', `${h}.AAAA.${iv}.${ct}.${tag}`, 'malformed'],
    ['4 segments', `${h}..${iv}.${ct}`, 'malformed'],
    ['6 segments', `${good}.AAAA`, 'malformed'],
    ['non-base64url characters', `${h}..${iv}.${ct.slice(0, -2)}+/.${tag}`, 'malformed'],
    ['non-canonical tag encoding', `${h}..${iv}.${ct}.${tag.slice(0, 21)}B`, 'malformed'],
    ['oversized', `${h}..${iv}.${'A'.repeat(5000)}.${tag}`, 'oversized'],
    ['empty', '', 'malformed']
  ]
  for (const [name, token, reason] of cases) {
    t.equal(codec.open(token, 4096), reason, name)
  }
  t.equal(calls(), 0, 'none of them reached decryption')
})

t.test('a ciphertext that decodes to the right bytes but is not canonical base64url is refused unopened', async (t) => {
  const { codec, calls } = await countingCodec(t)
  // Node's decoder would accept every one of these and yield the genuine ciphertext. Find a token
  // whose ciphertext has spare bits in its last digit and a "-" or "_" to swap.
  let parts: string[] | undefined
  for (let i = 0; i < 200 && parts === undefined; i++) {
    const candidate = (await joseToken(KEY1, { dat: { pad: 'x'.repeat(i % 40) } })).split('.')
    if (candidate[3]!.length % 4 === 2 && /[-_]/.test(candidate[3]!)) parts = candidate
  }
  if (parts === undefined) throw new Error('no suitable token in 200 tries')
  const [h, , iv, ct, tag] = parts as [string, string, string, string, string]
  t.notOk(typeof codec.open(`${h}..${iv}.${ct}.${tag}`, 4096) === 'string', 'the genuine token opens')
  const callsForGenuine = calls()
  const lastDigit = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(ct.at(-1)!)
  const withSpareBit = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastDigit | 1]!
  const cases: [string, string][] = [
    ['standard-alphabet twin', ct.replace(/-/g, '+').replace(/_/g, '/')],
    ['space inside', `${ct.slice(0, 4)} ${ct.slice(4)}`],
    ['tab at the end', `${ct}\t`],
    ['padding', `${ct}==`],
    ['foreign character', `${ct.slice(0, 5)}*${ct.slice(5)}`],
    ['non-ASCII character', `${ct.slice(0, 5)}\u00e9${ct.slice(5)}`],
    ['spare bit set in the last digit', `${ct.slice(0, -1)}${withSpareBit}`]
  ]
  for (const [name, text] of cases) {
    t.equal(codec.open(`${h}..${iv}.${text}.${tag}`, 4096), 'malformed', name)
  }
  t.equal(calls(), callsForGenuine, 'none of them reached decryption')
})

t.test('a tampered byte fails authentication (one decryption, no plaintext)', async (t) => {
  const { codec, calls } = await countingCodec(t)
  const good = await joseToken(KEY1, { dat: { role: 'user' } })
  const [h, , iv, ct, tag] = good.split('.') as [string, string, string, string, string]
  const flip = (s: string, i: number): string => {
    const bytes = Buffer.from(s, 'base64url')
    bytes[i % bytes.length]! ^= 1
    return bytes.toString('base64url')
  }
  t.equal(codec.open(`${h}..${flip(iv, 3)}.${ct}.${tag}`, 4096), 'decrypt', 'IV')
  t.equal(codec.open(`${h}..${iv}.${flip(ct, 5)}.${tag}`, 4096), 'decrypt', 'ciphertext')
  t.equal(codec.open(`${h}..${iv}.${ct}.${flip(tag, 0)}`, 4096), 'decrypt', 'tag')
  t.equal(calls(), 3)
})
