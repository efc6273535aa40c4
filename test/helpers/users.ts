// Routes of an app with per-user sessions (userKey: 'user'): login, whoami, logout, the user's
// list and "sign out my other devices", as an app would write them.
import type { FastifyInstance } from 'fastify'
import type { SessionManager } from '../../lib/manager.js'

export function userRoutes (app: FastifyInstance): void {
  const manager = (): SessionManager => (app as unknown as { encryptedSession: { get (): SessionManager } }).encryptedSession.get()
  app.post<{ Body: { user: string | number } }>('/login', async (req) => {
    req.session.regenerate()
    req.session.set('user', req.body.user)
    return { id: req.session.id }
  })
  app.get('/me', async (req) => ({ user: req.session.get('user') ?? null, id: req.session.id }))
  app.post('/logout', async (req) => { req.session.delete(); return 'bye' })
  app.post('/visit', async (req) => { req.session.set('visits', ((req.session.get('visits') as number | undefined) ?? 0) + 1); return 'ok' })
  app.post('/others', async (req) => ({ ended: await manager().endUserSessions(req.session.get('user') as string, { except: req.session }) }))
  app.get('/sessions', async (req) => await manager().listUserSessions(req.session.get('user') as string))
  app.get('/free', { config: { encryptedSession: false } }, async () => 'free')
}

/** Polls `check` until it is true or `ms` pass; resolves the milliseconds it took, or -1. */
export async function until (check: () => Promise<boolean>, ms: number): Promise<number> {
  const started = performance.now()
  while (performance.now() - started < ms) {
    if (await check()) return performance.now() - started
    await new Promise((resolve) => setImmediate(resolve))
  }
  return await check() ? performance.now() - started : -1
}

/**
 * For "refused within the bound" on a loaded machine: polls `accepted` until it answers false
 * (giving up `bound` + 5 s after `since`, a performance.now() time). `late` counts the requests that
 * began more than `bound` ms after `since` and were still accepted, which the bound forbids; `took`
 * is when the first refusal began (ms after `since`), or -1 if none came.
 */
export async function refusal (accepted: () => Promise<boolean>, since: number, bound: number): Promise<{ took: number, late: number }> {
  let late = 0
  while (performance.now() - since < bound + 5000) {
    const began = performance.now() - since
    if (!await accepted()) return { took: began, late }
    if (began > bound) late++
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { took: -1, late }
}
