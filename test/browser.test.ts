// A real browser (Debian's headless Chromium, driven by playwright-core) against the built demo and
// against a small revocation app, both listening on 127.0.0.1. What the browser actually stores is
// what counts here: the cookie's attributes and lifetime as Chromium recorded them, that Chromium
// never drops the cookie for its size while the cart grows past what a cookie holds (the session
// moves to the store), and that logging out removes the cookie and, with revocation, kills copies.
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import type { BrowserContext, Cookie, Page, Response } from 'playwright-core'
import { plugin, generateKey, engine, nowSeconds } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import { withChromium } from './helpers/chromium.js'
import { MemoryStore } from '../lib/stores/memory.js'

// The built demo, as test/demo.test.ts loads it: from dist/ (run `npm run build` first), so the
// demo's SessionData declaration stays out of the tests' compilation.
const { buildDemo } = require('../dist/example/app.js') as {
  buildDemo: (opts: { keys?: string, store?: MemoryStore, env?: NodeJS.ProcessEnv }) => Promise<FastifyInstance>
}

// The demo's idleTimeout (30 minutes) is nearer than its maxAge (8 hours): the cookie lives that long.
const DEMO_IDLE_SECONDS = 30 * 60
const STEP_TIMEOUT_MS = 15_000

/** The session cookie of a response's Set-Cookie header(s), as the server sent it. */
function sentCookie (header: string | null): { value: string, attrs: string } | undefined {
  for (const line of (header ?? '').split('\n')) {
    const m = /^session=([^;]*)(.*)$/.exec(line)
    if (m) return { value: m[1]!, attrs: m[2]! }
  }
  return undefined
}

withChromium('test/browser.test.ts', (browser) => {
  async function newPage (t: Test, context?: BrowserContext): Promise<{ context: BrowserContext, page: Page, failures: string[] }> {
    const ctx = context ?? await browser().newContext()
    t.teardown(() => ctx.close())
    const page = await ctx.newPage()
    page.setDefaultTimeout(STEP_TIMEOUT_MS)
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS)
    // Every answer the server gave the browser, other than the favicon the demo does not have.
    const failures: string[] = []
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`)
    })
    return { context: ctx, page, failures }
  }

  /**
   * Clicks a form's button and waits for the whole round trip: the POST (its 303 and Set-Cookie),
   * then the load of the page it redirects to. The `load` event is awaited for the new document
   * (the current one has long since loaded), so no timing guess is involved.
   */
  async function submit (page: Page, button: string, path: string): Promise<Response> {
    const posted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === path)
    const loaded = page.waitForEvent('load')
    await page.getByRole('button', { name: button, exact: true }).click()
    const response = await posted
    await loaded
    return response
  }

  async function sessionCookies (context: BrowserContext): Promise<Cookie[]> {
    return (await context.cookies()).filter((c) => c.name === 'session')
  }

  t.test('the demo in Chromium: login, counter, a cart that outgrows the cookie, logout', async (t) => {
    const store = new CountingStore()
    const app = await buildDemo({ keys: generateKey('browser').entry, store, env: {} })
    t.teardown(() => app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'listening on 127.0.0.1')
    const { context, page, failures } = await newPage(t)

    /** What the page shows, read from the DOM the browser rendered. */
    const shown = async (): Promise<{ user: string | null, count: string | null, cart: string | null }> => ({
      user: await page.locator('#user').count() === 0 ? null : await page.locator('#user').textContent(),
      count: await page.locator('#count').textContent(),
      cart: await page.locator('#cart').textContent()
    })
    /** The same state as JSON, fetched by the page itself (the browser attaches its cookie). */
    const apiState = async (): Promise<unknown> => page.evaluate(async () => (await fetch('/api/state')).json())

    /**
     * After a POST: it was a 303 that set our cookie, the browser stored exactly the value the
     * server sent (so it did not drop it for size), the value is below the browser's 4096 bytes,
     * and the stored attributes are the ones the demo asks for.
     */
    const checkStored = async (t: Test, response: Response, label: string): Promise<Cookie> => {
      t.equal(response.status(), 303, `${label}: 303`)
      const sent = sentCookie(await response.headerValue('set-cookie'))
      t.ok(sent, `${label}: the response set the session cookie`)
      const stored = await sessionCookies(context)
      t.equal(stored.length, 1, `${label}: the browser holds one session cookie`)
      const cookie = stored[0]!
      t.equal(cookie.value, sent?.value, `${label}: the browser kept the value the server sent`)
      t.ok(cookie.value.length < 4096, `${label}: the cookie value is ${cookie.value.length} bytes, under 4096`)
      t.ok(`session=${cookie.value}${sent?.attrs ?? ''}`.length <= 4000, `${label}: the whole Set-Cookie is within maxCookieSize`)
      t.hasStrict(cookie, {
        name: 'session',
        domain: '127.0.0.1',
        path: '/',
        httpOnly: true,
        secure: false, // secure: 'auto' and plain http
        sameSite: 'Lax'
      }, `${label}: attributes as stored by Chromium`)
      const expected = nowSeconds() + DEMO_IDLE_SECONDS
      t.ok(Math.abs(cookie.expires - expected) <= 5,
        `${label}: expires ${cookie.expires} ≈ now + ${DEMO_IDLE_SECONDS}s (${expected}), a persistent cookie`)
      return cookie
    }

    // A first visit reads the session but changes nothing: no cookie.
    const first = await page.goto(`${base}/`)
    t.equal(first?.status(), 200, 'the page loads')
    t.same(await shown(), { user: null, count: '0', cart: '0' }, 'an empty page')
    t.same(await sessionCookies(context), [], 'no cookie before anything is stored')

    // Anonymous: one item in the cart.
    const anonymous = await checkStored(t, await submit(page, 'Add 1', '/cart/add'), 'anonymous add')
    t.same(await shown(), { user: null, count: '0', cart: '1' }, 'the page shows one item')

    // Log in through the form: a new cookie (new session id), the cart kept.
    await page.locator('input[name="user"]').fill('ada')
    const login = await checkStored(t, await submit(page, 'Log in', '/login'), 'login')
    t.not(login.value, anonymous.value, 'login replaced the cookie')
    t.same(await shown(), { user: 'ada', count: '0', cart: '1' }, 'the page shows ada, and the cart survived login')

    // HttpOnly holds in the page: scripts cannot see the cookie, yet the page's own fetch sends it.
    t.equal(await page.evaluate('document.cookie'), '', 'document.cookie does not show the HttpOnly cookie')
    t.same(await apiState(), { user: 'ada', count: 0, cart: 1 }, 'the page\'s fetch carries the cookie')

    for (let i = 1; i <= 3; i++) {
      await checkStored(t, await submit(page, '+1', '/count'), `count ${i}`)
      t.same(await shown(), { user: 'ada', count: String(i), cart: '1' }, `the page shows count ${i}`)
    }
    t.equal(store.sessionEntries, 0, 'so far the session lives wholly in the cookie')
    t.same(store.sessionCalls, [], 'and the store was never asked for it (only ada\'s list of sessions is there: the demo sets userKey)')

    // Grow the cart 25 at a time until it holds more than 70 items: at some step the session no
    // longer fits a cookie and moves to the store, the cookie keeping a small reference.
    const lengths: number[] = []
    let cart = 1
    let offloadedAt: number | undefined
    while (cart <= 70) {
      cart += 25
      const cookie = await checkStored(t, await submit(page, 'Add 25', '/cart/add'), `cart ${cart}`)
      t.same(await shown(), { user: 'ada', count: '3', cart: String(cart) }, `the page shows ${cart} items`)
      t.same(await apiState(), { user: 'ada', count: 3, cart }, `the server state has ${cart} items`)
      lengths.push(cookie.value.length)
      if (offloadedAt === undefined && store.sessionEntries > 0) offloadedAt = cart
    }
    t.equal(cart, 76, 'three clicks of Add 25')
    t.comment(`cookie value lengths while the cart grew: ${lengths.join(', ')}; offloaded at ${offloadedAt} items`)
    t.ok(offloadedAt !== undefined, 'the session moved to the store')
    t.equal(store.sessionEntries, 1, 'one session entry in the store')
    t.ok(lengths[lengths.length - 1]! < 600, 'once offloaded, the cookie is a small reference')
    t.ok(Math.max(...lengths) > 2000, 'before that the cookie carried the growing cart itself')
    t.ok(store.sessionCalls.includes('set'), 'the data was written to the store')

    // A reload reads the offloaded data back through the cookie's reference.
    const reload = await page.reload()
    t.equal(reload?.status(), 200, 'reload')
    t.same(await shown(), { user: 'ada', count: '3', cart: '76' }, 'a reload shows the stored session')
    const copied = (await sessionCookies(context))[0]!.value

    // Log out: the cookie is gone from the browser and the page is anonymous again.
    const logout = await submit(page, 'Log out', '/logout')
    t.equal(logout.status(), 303, 'logout: 303')
    t.match(await logout.headerValue('set-cookie'), /^session=; Max-Age=0;/m, 'the response clears the cookie')
    t.same(await sessionCookies(context), [], 'the browser no longer holds the session cookie')
    t.same(await shown(), { user: null, count: '0', cart: '0' }, 'the page is anonymous again')
    t.same(await apiState(), { user: null, count: 0, cart: 0 }, 'and so is the server state')

    // The session lived in the store, and delete() tombstoned its entry: even without revocation,
    // a copy of that cookie now opens an empty session.
    const replay = await fetch(`${base}/api/state`, { headers: { cookie: `session=${copied}` } })
    t.same(await replay.json(), { user: null, count: 0, cart: 0 }, 'a copy of the offloaded cookie is dead after logout')
    t.ok(store.sessionCalls.includes('end'), 'logout wrote a tombstone')

    t.same(failures, [], 'no request failed')
  })

  t.test('revocation in Chromium: after logout, a copied cookie no longer logs anyone in', async (t) => {
    const store = new MemoryStore()
    const app = Fastify({ logger: false })
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    await app.register(plugin, { keys: generateKey('revoke').entry, store, revocation: true, cookie: { secure: 'auto' } })
    app.get('/', async (req, reply) => {
      const user = req.session.get('user') as string | undefined
      reply.type('text/html; charset=utf-8')
      return `<!doctype html><html><head><meta charset="utf-8"><title>revocation</title></head><body>${user === undefined
        ? '<form method="post" action="/login"><input name="user" required><button>Log in</button></form>'
        : `<p id="user">${user.replace(/[^A-Za-z0-9]/g, '')}</p><form method="post" action="/logout"><button>Log out</button></form>`}</body></html>`
    })
    app.get('/me', async (req) => ({ user: req.session.get('user') ?? null }))
    app.post('/login', async (req, reply) => {
      req.session.regenerate()
      req.session.set('user', String((req.body as Record<string, unknown>).user))
      return reply.redirect('/', 303)
    })
    app.post('/logout', async (req, reply) => {
      req.session.delete()
      return reply.redirect('/', 303)
    })
    t.teardown(() => app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    const { context, page, failures } = await newPage(t)

    t.equal((await page.goto(`${base}/`))?.status(), 200, 'the page loads')
    await page.locator('input[name="user"]').fill('grace')
    const login = await submit(page, 'Log in', '/login')
    t.equal(login.status(), 303, 'login: 303')
    t.equal(await page.locator('#user').textContent(), 'grace', 'logged in')

    // Copy the cookie out of the browser, as malware or a shared machine would.
    const [stolen] = await sessionCookies(context)
    t.ok(stolen, 'the browser holds the session cookie')
    const me = async (cookie: Cookie): Promise<unknown> =>
      (await fetch(`${base}/me`, { headers: { cookie: `session=${cookie.value}` } })).json()
    t.same(await me(stolen!), { user: 'grace' }, 'before logout the copy works from anywhere')
    t.equal(store.size, 0, 'a cookie-only session: nothing stored yet')

    // Log out in the browser.
    const logout = await submit(page, 'Log out', '/logout')
    t.equal(logout.status(), 303, 'logout: 303')
    t.same(await sessionCookies(context), [], 'the browser dropped the cookie')
    t.equal(await page.locator('input[name="user"]').count(), 1, 'the page offers the login form again')
    t.equal(store.size, 1, 'logout recorded the ended session')

    // The copy, replayed from node…
    t.same(await me(stolen!), { user: null }, 'the copied cookie no longer gets the logged-in data (fetch)')
    // …and planted in a second, fresh browser context.
    const thief = await newPage(t, await browser().newContext())
    await thief.context.addCookies([stolen!])
    t.equal((await sessionCookies(thief.context)).length, 1, 'the copy is planted')
    const res = await thief.page.goto(`${base}/`)
    t.equal(res?.status(), 200, 'the second browser loads the page')
    t.equal(await thief.page.locator('#user').count(), 0, 'the second browser is not logged in')
    t.equal(await thief.page.locator('input[name="user"]').count(), 1, 'it sees the login form')
    t.same(await thief.page.evaluate(async () => (await fetch('/me')).json()), { user: null }, 'its fetch of /me gets no user')
    t.ok(engine(app).metrics.rejected.revoked >= 2, 'the replays were refused as revoked')

    t.same([...failures, ...thief.failures], [], 'no request failed')
  })
})
