// A stand-in for AWS KMS on 127.0.0.1: just enough of the JSON protocol (awsJson1_1, targets
// TrentService.Decrypt and TrentService.GenerateDataKey) for the real @aws-sdk/client-kms to talk
// to it. It holds one master key and wraps data keys with AES-256-GCM, the encryption context
// (sorted JSON) being the additional authenticated data, so a ciphertext presented with another
// context fails with InvalidCiphertextException, as with real KMS. Faults are scripted per test.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { EventEmitter, once } from 'node:events'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

export type KmsFault =
  /** Accept the connection and destroy it at once (the client sees a reset / socket hang up). */
  | 'reset'
  /** Read the request and never answer. */
  | 'hang'
  /** 500 KMSInternalException. */
  | 'internal'
  /** 400 ThrottlingException. */
  | 'throttle'
  /** 400 AccessDeniedException. */
  | 'denied'
  /** Decrypt answers with a 16-byte plaintext. */
  | 'short-key'
  /** Decrypt behaves as if the caller's encryption context did not match (InvalidCiphertextException). */
  | 'wrong-context'
  /** GenerateDataKey answers 200 with the plaintext but without a CiphertextBlob (a broken KMS-compatible service). */
  | 'no-blob'
  /** Decrypt answers 200 without Plaintext (as KMS does for a request with a Recipient: only CiphertextForRecipient). */
  | 'no-plaintext'
  /** GenerateDataKey answers without KeyId (the ARN of the key that wrapped it), as some KMS-compatible services do. */
  | 'no-key-id'

export interface KmsCall {
  target: string
  body: Record<string, unknown>
}

const MAGIC = Buffer.from('FK1')
const ACCOUNT = '111122223333'

/** Emits 'abandoned' when a client gives up on a hanging request (its connection closed). */
export class FakeKms extends EventEmitter {
  readonly keyUuid = '0b4a7d2e-9f1c-4e55-8a3b-6c2d1e0f9a87'
  readonly keyArn = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${this.keyUuid}`
  /** Every request that reached a handler, in order (faulted ones included). */
  readonly calls: KmsCall[] = []
  /** Requests being held open by the 'hang' fault; emptied when the client gives up. */
  readonly hanging = new Set<ServerResponse>()
  /** How many requests the client abandoned while they hung (the socket closed without an answer). */
  abandoned = 0
  /** Plaintexts of the data keys GenerateDataKey handed out, so tests can look for leaks. */
  readonly generated: Buffer[] = []
  port = 0
  readonly #master = randomBytes(32)
  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  #fault: KmsFault | undefined
  #faultLeft = 0

  constructor () {
    super()
    this.#server = createServer((req, res) => { this.#handle(req, res) })
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  get url (): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Listens on 127.0.0.1: a fresh port the first time, the same port after stop(). */
  async start (): Promise<this> {
    this.#server.listen(this.port, '127.0.0.1')
    await once(this.#server, 'listening')
    this.port = (this.#server.address() as { port: number }).port
    return this
  }

  /** Stops listening and drops every connection: clients now get ECONNREFUSED. */
  async stop (): Promise<void> {
    if (!this.#server.listening) return
    const closed = once(this.#server, 'close')
    this.#server.close()
    this.hanging.clear()
    for (const socket of this.#sockets) socket.destroy()
    await closed
  }

  /** The next `times` requests (all of them by default) fail with `fault`; undefined clears it. */
  fail (fault: KmsFault | undefined, times = Infinity): void {
    this.#fault = fault
    this.#faultLeft = fault === undefined ? 0 : times
  }

  /** Wraps `plaintext` under the master key for `context`, as Encrypt/GenerateDataKey would. */
  wrap (plaintext: Buffer, context: Record<string, string>): Buffer {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#master, iv)
    cipher.setAAD(aad(context))
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return Buffer.concat([MAGIC, iv, cipher.getAuthTag(), body])
  }

  /** A data key and its ciphertext blob, wrapped for context { app, purpose, kid, ...extra }. */
  dataKey (kid: string, app: string, extra: Record<string, string> = {}): { kid: string, plaintext: Buffer, ciphertext: Buffer, entry: string } {
    const plaintext = randomBytes(32)
    const ciphertext = this.wrap(plaintext, { ...extra, app, purpose: 'fastify-encrypted-session', kid })
    return { kid, plaintext, ciphertext, entry: `${kid}:${ciphertext.toString('base64')}` }
  }

  #unwrap (blob: Buffer, context: Record<string, string>): Buffer | undefined {
    if (blob.length < MAGIC.length + 28 || !blob.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
    try {
      const iv = blob.subarray(3, 15)
      const decipher = createDecipheriv('aes-256-gcm', this.#master, iv)
      decipher.setAuthTag(blob.subarray(15, 31))
      decipher.setAAD(aad(context))
      return Buffer.concat([decipher.update(blob.subarray(31)), decipher.final()])
    } catch {
      return undefined
    }
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const target = String(req.headers['x-amz-target'] ?? '')
    let body: Record<string, unknown>
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
    } catch {
      return error(res, 400, 'SerializationException', 'malformed JSON')
    }
    this.calls.push({ target, body })
    if (req.method !== 'POST' || !String(req.headers['content-type']).startsWith('application/x-amz-json-1.1')) {
      return error(res, 400, 'UnknownOperationException', 'expected a POST of application/x-amz-json-1.1')
    }
    if (typeof req.headers.authorization !== 'string' || !req.headers.authorization.startsWith('AWS4-HMAC-SHA256 ')) {
      return error(res, 400, 'MissingAuthenticationTokenException', 'the request is not signed')
    }

    let fault: KmsFault | undefined
    if (this.#fault !== undefined && this.#faultLeft > 0) {
      fault = this.#fault
      if (--this.#faultLeft === 0) this.#fault = undefined
    }
    switch (fault) {
      case 'reset': req.socket.destroy(); return
      case 'hang':
        this.hanging.add(res)
        res.on('close', () => {
          if (this.hanging.delete(res)) {
            this.abandoned++
            this.emit('abandoned', this.abandoned)
          }
        })
        return
      case 'internal': return error(res, 500, 'KMSInternalException', 'An internal error occurred')
      case 'throttle': return error(res, 400, 'ThrottlingException', 'Rate exceeded')
      case 'denied': return error(res, 400, 'AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:role/app is not authorized to perform: kms:Decrypt on resource: ${this.keyArn}`)
      default:
    }

    const keyId = body.KeyId
    if (keyId !== undefined && keyId !== this.keyArn && keyId !== this.keyUuid && keyId !== 'alias/sessions') {
      return error(res, 400, 'NotFoundException', `Key '${String(keyId)}' does not exist`)
    }
    const context = (body.EncryptionContext ?? {}) as Record<string, string>

    if (target === 'TrentService.Decrypt') {
      if (typeof body.CiphertextBlob !== 'string') return error(res, 400, 'ValidationException', 'CiphertextBlob is required')
      const plaintext = fault === 'wrong-context' ? undefined : this.#unwrap(Buffer.from(body.CiphertextBlob, 'base64'), context)
      if (plaintext === undefined) return error(res, 400, 'InvalidCiphertextException', '')
      if (fault === 'no-plaintext') return json(res, 200, { KeyId: this.keyArn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' })
      return json(res, 200, {
        KeyId: this.keyArn,
        Plaintext: (fault === 'short-key' ? plaintext.subarray(0, 16) : plaintext).toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT'
      })
    }
    if (target === 'TrentService.GenerateDataKey') {
      if (keyId === undefined) return error(res, 400, 'ValidationException', 'KeyId is required')
      if (body.KeySpec !== 'AES_256' && body.NumberOfBytes !== 32) return error(res, 400, 'ValidationException', 'this fake only makes AES_256 keys')
      const plaintext = randomBytes(32)
      this.generated.push(plaintext)
      if (fault === 'no-key-id') return json(res, 200, { CiphertextBlob: this.wrap(plaintext, context).toString('base64'), Plaintext: plaintext.toString('base64') })
      if (fault === 'no-blob') return json(res, 200, { KeyId: this.keyArn, Plaintext: plaintext.toString('base64') })
      return json(res, 200, { KeyId: this.keyArn, CiphertextBlob: this.wrap(plaintext, context).toString('base64'), Plaintext: plaintext.toString('base64') })
    }
    return error(res, 400, 'UnknownOperationException', `unsupported target ${target}`)
  }

  async close (): Promise<void> {
    await this.stop()
  }
}

/** Starts a fake KMS and stops it when the test ends. */
export async function fakeKms (t: { teardown: (fn: () => unknown) => void }): Promise<FakeKms> {
  const kms = await new FakeKms().start()
  t.teardown(() => kms.close())
  return kms
}

/**
 * Test credentials in the environment for the test's duration, for SDK clients built without
 * explicit ones (the CLI's): the fake KMS checks that requests are signed, not by whom.
 */
export function withAwsTestCredentials (t: { teardown: (fn: () => unknown) => void }): void {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
  process.env.AWS_ACCESS_KEY_ID = 'test'
  process.env.AWS_SECRET_ACCESS_KEY = 'test'
  t.teardown(() => {
    for (const [name, value] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret]] as const) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
}

// The encryption context as AAD: keys sorted, so the order a client sends them in does not matter.
function aad (context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.keys(context).sort().map((k) => [k, context[k]])))
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomBytes(16).toString('hex')
  })
  res.end(text)
}

function error (res: ServerResponse, status: number, type: string, message: string): void {
  json(res, status, { __type: type, message })
}
