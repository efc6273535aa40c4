// Every seal takes a fresh 96-bit IV from a pool of random bytes refilled every 512 seals, with its
// base64url text encoded per refill. Across refills, with dir and with A256KW: no IV (and no
// content key) is ever used twice, and the IV a token names is the one it was encrypted with
// (jose, which reads only the token, opens it).
import t from 'tap'
import { base64url, compactDecrypt } from 'jose'
import { build, engine, KEY1 } from './helpers/app.js'

for (const keyManagement of ['dir', 'A256KW'] as const) {
  t.test(`${keyManagement}: 3 refills, every IV fresh, every token opens with jose`, async (t) => {
    const { app } = await build(t, { keyManagement })
    const codec = engine(app).codec
    const ivs = new Set<string>()
    const keys = new Set<string>()
    const count = 3 * 512 + 5
    const key = base64url.decode(KEY1.key)
    for (let i = 0; i < count; i++) {
      const plaintext = JSON.stringify({ i })
      const token = codec.seal(plaintext)
      const [, wrapped, iv] = token.split('.') as [string, string, string]
      ivs.add(iv)
      if (keyManagement === 'A256KW') keys.add(wrapped)
      t.equal(Buffer.from(iv, 'base64url').length, 12)
      // Around each refill, and a sample elsewhere: the named IV (and key) open the token.
      if (i % 97 === 0 || i % 512 === 511 || i % 512 === 0 || i % 512 === 1 || i === count - 1) {
        const { plaintext: opened } = await compactDecrypt(token, key)
        t.equal(new TextDecoder().decode(opened), plaintext, `token ${i} opens`)
        const ours = codec.open(token, 4096)
        t.equal(typeof ours === 'string' ? ours : ours.plaintext.toString('utf8'), plaintext, `token ${i} opens here too`)
      }
    }
    t.equal(ivs.size, count, 'no IV repeats')
    if (keyManagement === 'A256KW') t.equal(keys.size, count, 'no content key repeats')
  })
}
