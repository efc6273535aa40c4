// Shared by the tests that run app processes (fleet, soak, staged rotation): waiting for one IPC
// message with a deadline, a browser-like cookie jar, and HTTP calls for clients talking to them.
import type { ChildProcess } from 'node:child_process'
import { request, type Agent, type IncomingHttpHeaders } from 'node:http'

/**
 * The next IPC message from `child` that `accept` takes. Rejects if the process exits first or
 * nothing arrives within `ms`; `describe` names the process and returns its recent output for the
 * error message.
 */
export function nextMessage<T> (child: ChildProcess, accept: (m: any) => boolean, what: string, ms: number, describe: () => { name: string, output: string }): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (m: unknown): void => {
      if (!accept(m)) return
      cleanup()
      resolve(m as T)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      const { name, output } = describe()
      reject(new Error(`${name} exited (${code}) while waiting for ${what}:\n${output}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      const { name, output } = describe()
      reject(new Error(`${name}: no ${what} within ${ms} ms:\n${output}`))
    }, ms)
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

/** Cookies as a browser keeps them: set by Set-Cookie, removed by Max-Age=0. */
export class Jar {
  readonly cookies = new Map<string, string>()

  header (): string | undefined {
    return this.cookies.size === 0 ? undefined : [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  update (headers: IncomingHttpHeaders): void {
    for (const raw of headers['set-cookie'] ?? []) {
      const [pair, ...attrs] = raw.split(';').map((s) => s.trim())
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name)
      else this.cookies.set(name, pair!.slice(eq + 1))
    }
  }
}

export interface Reply { status: number, body: any, headers: IncomingHttpHeaders }

/** One HTTP request to 127.0.0.1 over `agent`; a JSON body is parsed, anything else kept as text. */
export function httpCall (agent: Agent, port: number, method: 'GET' | 'POST', url: string, cookie: string | undefined, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (cookie !== undefined) headers.cookie = cookie
    const payload = body === undefined ? undefined : JSON.stringify(body)
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const req = request({ host: '127.0.0.1', port, method, path: url, headers, agent }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        let parsed: unknown = text
        try { parsed = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode!, body: parsed, headers: res.headers })
      })
      res.on('error', reject)
    })
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url}: no answer within 10 s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** httpCall with the jar's cookies, keeping what the response sets, as a browser does. */
export async function jarCall (agent: Agent, port: number, jar: Jar, method: 'GET' | 'POST', url: string, body?: unknown): Promise<Reply> {
  const res = await httpCall(agent, port, method, url, jar.header(), body)
  jar.update(res.headers)
  return res
}
