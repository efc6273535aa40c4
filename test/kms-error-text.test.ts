// How a KMS failure is described in logs and errors: the error's name (when it is a plain
// identifier), HTTP status and code, and its message, with anything that could be key material
// or ciphertext (long base64/hex runs) replaced; never more than a bounded length.
import t from 'tap'
import { describeKmsError } from '../lib/keys/kms.js'

const RUN = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5YWJjZGVm'

t.test('an Error with status and code', async (t) => {
  const err = Object.assign(new Error(`bad blob ${RUN}`), { name: 'ValidationException', code: 'E42', $metadata: { httpStatusCode: 400 } })
  t.equal(describeKmsError(err), 'ValidationException (HTTP 400, E42): bad blob [redacted]')
})

t.test('an empty or "UnknownError" message is left out', async (t) => {
  for (const message of ['', 'UnknownError']) {
    const err = Object.assign(new Error(message), { name: 'KMSInternalException', $metadata: { httpStatusCode: 500 } })
    t.equal(describeKmsError(err), 'KMSInternalException (HTTP 500)', JSON.stringify(message))
  }
})

t.test('a name that is not a plain identifier is reported as "Error"', async (t) => {
  const err = Object.assign(new Error('refused'), { name: 'Access denied <script>' })
  t.equal(describeKmsError(err), 'Error: refused')
})

t.test('something thrown that is not an Error: its text, redacted, at most 300 characters', async (t) => {
  t.equal(describeKmsError(`socket closed ${RUN}`), 'socket closed [redacted]')
  t.equal(describeKmsError('x '.repeat(400)).length, 300)
})
