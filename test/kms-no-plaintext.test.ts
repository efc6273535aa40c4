// A Decrypt answer without Plaintext (KMS gives only CiphertextForRecipient when a Recipient is
// involved; a KMS-compatible service may simply omit it) fails the key load with a coded error
// naming the key: the app does not start, nothing is retried, no key is guessed.
import t from 'tap'
import Fastify from 'fastify'
import { KMSClient } from '@aws-sdk/client-kms'
import { plugin } from './helpers/app.js'
import { fakeKms } from './helpers/fake-kms.js'
import { kmsKeys } from '../lib/keys/kms.js'

t.test('no Plaintext in the Decrypt answer: register fails with FST_ENCSESS_INVALID_KEY', async (t) => {
  const kms = await fakeKms(t)
  const client = new KMSClient({ region: 'us-east-1', endpoint: kms.url, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 })
  t.teardown(() => client.destroy())
  const k1 = kms.dataKey('k1', 'shop')
  kms.fail('no-plaintext')
  const app = Fastify()
  t.teardown(() => app.close().catch(() => {}))
  const options: Record<string, unknown> = { keys: kmsKeys({ client, encryptionContext: { app: 'shop' }, keys: k1.entry }), cookie: { secure: false } }
  app.register(plugin, options)
  const err = await app.ready().then(() => { throw new Error('register succeeded') }, (e: Error & { code?: string }) => e)
  t.equal(err.code, 'FST_ENCSESS_INVALID_KEY')
  t.match(err.message, /^Invalid session key "k1": KMS returned no plaintext\./)
  t.equal(kms.calls.filter((c) => c.target === 'TrentService.Decrypt').length, 1, 'not retried')
})
