// The demo's "your sessions" list and its "sign out other devices" / "sign out this one" buttons,
// on per-user sessions (the `userKey: 'user'` option). Form posts redirect back to the page; the
// list is JSON for the page's script or for curl.
import type { FastifyInstance } from 'fastify'

export async function usersRoutes (app: FastifyInstance): Promise<void> {
  const manager = () => app.encryptedSession.get()

  app.get('/api/sessions', async (req, reply) => {
    const user = req.session.get('user')
    if (user === undefined) return reply.code(401).send({ error: 'log in first' })
    const sessions = await manager().listUserSessions(user)
    return sessions.map((s) => ({ ...s, current: s.id === req.session.id }))
  })

  app.post('/sessions/others', async (req, reply) => {
    const user = req.session.get('user')
    if (user === undefined) return reply.code(401).send({ error: 'log in first' })
    await manager().endUserSessions(user, { except: req.session })
    return reply.redirect('/', 303)
  })

  app.post('/sessions/end', async (req, reply) => {
    const user = req.session.get('user')
    const id = (req.body as Record<string, unknown> | undefined)?.id
    if (user === undefined) return reply.code(401).send({ error: 'log in first' })
    if (typeof id === 'string') await manager().endSession(user, id)
    return reply.redirect('/', 303)
  })
}
