// kmsKeys() checks its options when called and its key list when loading, and loading the SDK
// fails in a way that says why.
import t from 'tap'
import { KMSClient } from '@aws-sdk/client-kms'
import { kmsKeys, loadKmsCommands, type KmsKeysOptions } from '../lib/keys/kms.js'

t.test('kmsKeys.keyId must be a non-empty string', async (t) => {
  const client = new KMSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })
  t.teardown(() => client.destroy())
  for (const keyId of ['', 42, null]) {
    t.throws(() => kmsKeys({ client, encryptionContext: { app: 'shop' }, keyId: keyId as string }), {
      code: 'FST_ENCSESS_INVALID_OPTION',
      message: /"kmsKeys\.keyId".*a KMS key id, ARN or alias/
    }, String(keyId))
  }
  t.type(kmsKeys({ client, encryptionContext: { app: 'shop' }, keyId: 'alias/sessions', keys: 'k1:' + 'A'.repeat(200) }), 'function', 'a key id is accepted')
})

t.test('an installed SDK that fails to load: its own error, not "install the package"', async (t) => {
  const broken = new SyntaxError('Unexpected token in @aws-sdk/client-kms/dist-cjs/index.js')
  t.throws(() => loadKmsCommands(() => { throw broken }), broken)
  const esmMissing = Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' })
  t.throws(() => loadKmsCommands(() => { throw esmMissing }), { code: 'FST_ENCSESS_INVALID_OPTION', message: /npm install @aws-sdk\/client-kms/ })
})

t.test('kmsKeys() without an options object', async (t) => {
  for (const bad of [null, undefined, 'alias/sessions']) {
    t.throws(() => kmsKeys(bad as unknown as KmsKeysOptions), { code: 'FST_ENCSESS_INVALID_OPTION', message: /"kmsKeys": pass \{ client, encryptionContext: \{ app \}, keys\? \}/ }, String(bad))
  }
})

t.test('the wrapped key list: empty, or an entry that is not an object, fails the load with what is wrong', async (t) => {
  const client = new KMSClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })
  t.teardown(() => client.destroy())
  const load = async (keys: unknown): Promise<unknown> => await kmsKeys({ client, encryptionContext: { app: 'shop' }, keys: keys as string })()
  await t.rejects(load([]), { code: 'FST_ENCSESS_INVALID_OPTION', message: /"kmsKeys\.keys": it holds no key/ })
  await t.rejects(load([null]), { code: 'FST_ENCSESS_INVALID_OPTION', message: /"kmsKeys\.keys": entry 1 is not an object \{ kid, ciphertext \}/ })
  await t.rejects(load(['k1:abc']), { code: 'FST_ENCSESS_INVALID_OPTION', message: /entry 1 is not an object/ })
})
