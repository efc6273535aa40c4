// The demo page's view of the session, in a real browser (Debian's headless Chromium, driven by
// playwright-core) against the built demo on 127.0.0.1: where the data lives and the cookie's size
// against maxCookieSize, the kid that sealed it and the keys held, the deadlines counting down, the
// decode counters; tampering is refused and counted, a growing cart moves to the store and back,
// and a key added and promoted re-seals the session without logging anyone out; two browsers logged
// in as one user both appear under "Your sessions", and "Sign out other devices" ends the other. With
// DEMO_SCREENSHOT=<file.png> it also saves the screenshot the README shows.
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { BrowserContext, Page } from 'playwright-core'
import { generateKey } from './helpers/app.js'
import { CountingStore } from './helpers/counting-store.js'
import { withChromium } from './helpers/chromium.js'

// The built demo (run `npm run build` first), loaded from dist/ as test/demo.test.ts explains.
const { buildDemo } = require('../dist/example/app.js') as {
  buildDemo: (opts: { keys?: string, store?: CountingStore, env?: NodeJS.ProcessEnv }) => Promise<FastifyInstance>
}

const STEP_TIMEOUT_MS = 15_000

interface Shown {
  where: string
  size: string
  barPercent: number
  kid: string
  keys: string[]
  created: string
  absolute: string
  idle: string
  ok: number
  refused: Record<string, number>
  user: string | null
  cart: string
}

/** The session as the server reports it to the page (the same JSON the inline script renders). */
interface Reported {
  where: string
  cookieBytes: number
  kid: string | null
  createdAt: number | null
  expiresAt: number | null
}

withChromium('test/demo-browser.test.ts', (browser) => {
  async function open (t: Test, base: string, userAgent?: string): Promise<{ context: BrowserContext, page: Page, failures: string[] }> {
    const context = await browser().newContext({ viewport: { width: 1180, height: 900 }, deviceScaleFactor: 1, userAgent })
    t.teardown(() => context.close())
    const page = await context.newPage()
    page.setDefaultTimeout(STEP_TIMEOUT_MS)
    const failures: string[] = []
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) failures.push(`${r.status()} ${r.request().method()} ${r.url()}`)
    })
    t.equal((await page.goto(`${base}/`))?.status(), 200, 'the page loads')
    await inspected(page)
    return { context, page, failures }
  }

  /** Waits until the inline script has rendered the inspector for the document now loaded. */
  async function inspected (page: Page): Promise<void> {
    await page.waitForSelector('body[data-inspected="1"]')
  }

  /** Clicks a button that posts a form, and waits for the redirected page and its inspector. */
  async function click (page: Page, name: string): Promise<void> {
    const loaded = page.waitForEvent('load')
    await page.getByRole('button', { name, exact: true }).click()
    await loaded
    await inspected(page)
  }

  async function shown (page: Page): Promise<Shown> {
    const text = async (selector: string): Promise<string> => (await page.locator(selector).textContent())?.trim() ?? ''
    const refused: Record<string, number> = {}
    for (const cell of await page.locator('#refused [data-reason]').all()) {
      refused[(await cell.getAttribute('data-reason'))!] = Number(await cell.locator('b').textContent())
    }
    return {
      where: await text('#where'),
      size: await text('#size'),
      barPercent: parseFloat((await page.locator('#size-bar').getAttribute('style'))?.replace(/^width:\s*/, '') ?? ''),
      kid: await text('#kid'),
      keys: await page.locator('#keys li').allTextContents(),
      created: await text('#created'),
      absolute: await text('#absolute'),
      idle: await text('#idle'),
      ok: Number(await text('#ok')),
      refused,
      user: await page.locator('#user').count() === 0 ? null : await text('#user'),
      cart: await text('#cart')
    }
  }

  /** What the server reports for the browser's current cookie, fetched by the page itself. */
  async function reported (page: Page): Promise<Reported> {
    return await page.evaluate(async () => (await fetch('/api/session')).json()) as Reported
  }

  /** The protected header's kid of the cookie the browser holds: readable without any key. */
  async function cookieKid (context: BrowserContext): Promise<string | undefined> {
    const cookie = (await context.cookies()).find((c) => c.name === 'session')
    if (cookie === undefined) return undefined
    return JSON.parse(Buffer.from(cookie.value.split('.')[0]!, 'base64url').toString('utf8')).kid
  }

  async function login (page: Page, user: string): Promise<void> {
    await page.locator('input[name="user"]').fill(user)
    await click(page, 'Log in')
  }

  t.test('the demo page shows the session from the inside, and its buttons do what they say', async (t) => {
    const store = new CountingStore()
    const app = await buildDemo({ keys: generateKey('first').entry, store, env: {} })
    t.teardown(() => app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    const { context, page, failures } = await open(t, base)

    // A first visit: no cookie, one key, nothing counted.
    let s = await shown(page)
    t.equal(s.where, 'no session cookie yet')
    t.same(s.keys, ['first (current, seals)'], 'the key this instance holds')
    t.equal(s.kid, '–', 'no cookie, no kid')
    t.same(Object.values(s.refused).filter((n) => n > 0), [], 'no refusal counted')
    t.equal(Object.keys(s.refused).length, 14, 'every refusal reason is shown')

    // Log in: the session lives in the cookie, sealed by the current key, deadlines counting down.
    const loginResponse = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/login')
    await login(page, 'ada')
    const setCookie = (await (await loginResponse).headerValue('set-cookie'))!.split('\n').find((l) => l.startsWith('session='))!
    s = await shown(page)
    t.equal(s.user, 'ada')
    t.equal(s.where, 'in the cookie')
    t.equal(s.kid, 'first', 'sealed by the current key')
    t.equal(await cookieKid(context), 'first', 'as the cookie\'s own header says')
    t.equal(s.size, `${setCookie.length} of 4000 bytes`, 'the size shown is the whole Set-Cookie the browser was sent')
    t.ok(Math.abs(s.barPercent - 100 * setCookie.length / 4000) < 0.01, `the bar is ${s.barPercent.toFixed(1)} % full`)
    t.match(s.created, /^\d+s ago$/, `created: ${s.created}`)
    t.match(s.absolute, /^in 7h 59m \d+s$|^in 8h 0m 0s$/, `absolute expiry (maxAge 8 h): ${s.absolute}`)
    t.match(s.idle, /^in 29m \d+s$|^in 30m 0s$/, `idle expiry (idleTimeout 30 min): ${s.idle}`)
    t.ok(s.ok >= 1, `cookies opened: ${s.ok}`)
    // The clocks tick in the page: wait for the idle countdown to move on by itself.
    // (A string, run in the page: the test's compilation has no DOM types.)
    await page.waitForFunction(`document.getElementById('idle').textContent !== ${JSON.stringify(s.idle)}`)
    t.pass(`the idle countdown moved on from "${s.idle}" to "${await page.locator('#idle').textContent()}"`)

    // Tamper: the next request's cookie is refused and counted, the visitor is logged out, no error.
    await click(page, 'Tamper with my cookie')
    s = await shown(page)
    t.match(await page.locator('#refused-banner').textContent(), /refused \(decrypt\)/, 'the page says why the cookie was refused')
    t.equal(s.user, null, 'the tampered cookie gave an empty session')
    t.equal(s.refused.decrypt, 1, 'the refusal is counted as decrypt')
    t.equal(await page.locator('#refused-decrypt.hit').count(), 1, 'and highlighted')
    t.equal(s.where, 'no session cookie yet', 'the page cleared the bad cookie')
    t.equal(await cookieKid(context), undefined, 'the browser holds no session cookie')

    // Grow the cart 25 at a time: the session moves to the store, the cookie shrinks to a reference.
    await login(page, 'ada')
    const sizes: number[] = []
    let cart = 0
    while ((s = await shown(page)).where === 'in the cookie') {
      t.ok(cart <= 100, 'the cart moves to the store before 100 items')
      if (cart > 100) break
      sizes.push(s.barPercent)
      await click(page, 'Add 25')
      cart += 25
    }
    t.equal(s.where, 'in the store (CountingStore, version 1)', `offloaded at ${cart} items`)
    t.equal(s.cart, String(cart))
    t.equal(store.size, 2, 'two entries in the store: the session, and ada\'s list of sessions (userKey)')
    t.ok(sizes.every((p, i) => i === 0 || p > sizes[i - 1]!), `the bar grew while the cart lived in the cookie: ${sizes.map((p) => p.toFixed(0)).join(', ')} %`)
    t.ok(sizes[sizes.length - 1]! > 50, 'up to past half of maxCookieSize')
    t.ok(s.barPercent < 15, `once offloaded the cookie is a small reference (${s.size})`)
    await click(page, 'Add 1')
    t.equal((await shown(page)).where, 'in the store (CountingStore, version 2)', 'a further write is version 2 in the store')
    await click(page, 'Empty cart')
    s = await shown(page)
    t.equal(s.where, 'in the cookie', 'emptied, the session is back in the cookie')
    t.equal(s.cart, '0')
    t.equal(s.user, 'ada', 'still logged in')

    // Rotate in two stages; the session survives and is re-sealed under the new kid.
    const before = await reported(page)
    await click(page, 'Add a new key')
    s = await shown(page)
    t.same(s.keys, ['first (current, seals)', 'k2 (decrypts only)'], 'added: the new key decrypts only')
    t.equal(s.kid, 'first', 'the cookie is still sealed by the old key')
    await click(page, 'Promote k2')
    s = await shown(page)
    t.same(s.keys, ['k2 (current, seals)', 'first (decrypts only)'], 'promoted: the new key seals')
    t.equal(s.kid, 'k2', 'the page shows the session re-sealed under k2')
    t.equal(await cookieKid(context), 'k2', 'the browser\'s cookie is sealed by k2')
    t.equal(s.user, 'ada', 'nobody was logged out')
    const after = await reported(page)
    t.equal(after.createdAt, before.createdAt, 'the same session: created at the same time')
    t.equal(after.expiresAt, before.expiresAt, 'and the rotation did not extend its lifetime')
    t.equal(await page.getByRole('button', { name: 'Promote the new key', exact: true }).isDisabled(), true, 'nothing left to promote')

    // A state worth a screenshot: a cart that fills most of the cookie.
    await click(page, 'Add 25')
    for (let i = 0; i < 10; i++) await click(page, 'Add 1')
    s = await shown(page)
    t.equal(s.where, 'in the cookie')
    t.ok(s.barPercent > 70, `35 items fill ${s.barPercent.toFixed(0)} % of maxCookieSize`)
    if (process.env.DEMO_SCREENSHOT) {
      await page.screenshot({ path: process.env.DEMO_SCREENSHOT, fullPage: true })
      t.comment(`screenshot saved to ${process.env.DEMO_SCREENSHOT}`)
    }

    t.same(failures, [], 'no request failed')
  })

  /** The "Your sessions" panel: each row's device label, and whether it is marked as this device. */
  async function sessionsListed (page: Page): Promise<[string, boolean][]> {
    const rows: [string, boolean][] = []
    for (const li of await page.locator('#sessions li').all()) {
      rows.push([(await li.locator('.device').textContent()) ?? '', await li.locator('.here').count() === 1])
    }
    return rows
  }

  t.test('two devices of one user: the first lists both and signs the other out', async (t) => {
    const app = await buildDemo({ keys: generateKey('first').entry, store: new CountingStore(), env: {} })
    t.teardown(() => app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    const laptop = await open(t, base, 'Laptop browser')
    const phone = await open(t, base, 'Phone browser')
    t.equal(await laptop.page.locator('#sessions').count(), 0, 'logged out: no sessions panel')
    await login(laptop.page, 'ada')
    await login(phone.page, 'ada')
    await laptop.page.goto(`${base}/`)
    await inspected(laptop.page)
    t.same(await sessionsListed(laptop.page), [['Laptop browser', true], ['Phone browser', false]], 'the laptop lists both, itself marked')
    t.equal(await laptop.page.getByRole('button', { name: 'End', exact: true }).count(), 1, 'an End button for the other session only')
    t.same(await sessionsListed(phone.page), [['Laptop browser', false], ['Phone browser', true]], 'the phone lists both, itself marked')

    await click(laptop.page, 'Sign out other devices')
    t.equal((await shown(laptop.page)).user, 'ada', 'the laptop stays logged in')
    t.same(await sessionsListed(laptop.page), [['Laptop browser', true]], 'and lists itself alone')
    t.equal(await laptop.page.getByRole('button', { name: 'Sign out other devices', exact: true }).isDisabled(), true, 'no other device left')

    t.equal((await phone.page.goto(`${base}/`))?.status(), 200, 'the phone\'s next load is a page, not an error')
    await inspected(phone.page)
    const p = await shown(phone.page)
    t.equal(p.user, null, 'the phone is logged out')
    t.equal(p.refused.revoked, 1, 'its cookie was refused, counted as revoked')
    t.match(await phone.page.locator('#refused-banner').textContent(), /refused \(revoked\)/, 'and the page says so')
    t.equal(await phone.page.locator('#sessions').count(), 0, 'no sessions panel once logged out')

    await laptop.page.goto(`${base}/`)
    await inspected(laptop.page)
    t.equal((await shown(laptop.page)).user, 'ada', 'the laptop is still logged in on its next load')
    t.same([...laptop.failures, ...phone.failures], [], 'no request failed')
  })

  t.test('in production mode the page offers no key buttons and the routes do not exist', async (t) => {
    const app = await buildDemo({ keys: generateKey('prod').entry, store: new CountingStore(), env: { NODE_ENV: 'production' } })
    t.teardown(() => app.close())
    const base = await app.listen({ host: '127.0.0.1', port: 0 })
    const { page } = await open(t, base)
    t.equal(await page.getByRole('button', { name: 'Add a new key', exact: true }).count(), 0, 'no add button')
    t.equal(await page.getByRole('button', { name: 'Tamper with my cookie', exact: true }).count(), 1, 'tampering is still offered')
    const res = await fetch(`${base}/keys/add`, { method: 'POST' })
    t.equal(res.status, 404, 'POST /keys/add is not a route')
    t.same((await shown(page)).keys, ['prod (current, seals)'])
  })
})
