// The demo's one page: the shop and the user's sessions on the left (server-rendered forms), the
// session seen from the inside on the right, filled in by a little inline script from /api/session
// after every load.

export interface PageState {
  user: string | undefined
  count: number
  cart: number
  /** Refusal reasons counted while opening the cookie of this very request. */
  refused: string[]
  /** Key rotation buttons are offered in development mode only. */
  development: boolean
  /** A key added but not yet promoted. */
  pendingKid: string | undefined
  /** When logged in: the user's live sessions (listUserSessions). */
  sessions?: SessionRow[]
}

export interface SessionRow {
  id: string
  device: string
  /** Seconds since the epoch. */
  createdAt: number
  expiresAt: number
  current: boolean
}

function escape (s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const STYLE = `
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f3f4f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 28px}
header h1{font-size:20px;margin:0}
header p{margin:2px 0 0;color:#b8c0d0;font-size:13px}
main{display:grid;grid-template-columns:minmax(280px,1fr) minmax(420px,1.5fr);gap:20px;padding:20px 28px;max-width:1180px}
section{background:#fff;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px}
h2{font-size:16px;margin:0 0 10px}
h3{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:#5b6475;margin:16px 0 6px}
form{display:inline-block;margin:0 6px 6px 0}
button{font:inherit;padding:5px 12px;border:1px solid #aab2c2;border-radius:6px;background:#fff;cursor:pointer}
button:hover{background:#eef1f7}
button:disabled{opacity:.45;cursor:default;background:#fff}
button.danger{border-color:#d9534f;color:#b52b27}
button.key{border-color:#6a4fd9;color:#4b31b5}
input{font:inherit;padding:5px 8px;border:1px solid #aab2c2;border-radius:6px}
.big{font-size:26px;font-weight:600}
.muted{color:#6b7385;font-size:13px}
.banner{background:#fff3cd;border:1px solid #f0d27a;border-radius:8px;padding:8px 12px;margin-bottom:12px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
.where{display:inline-block;padding:3px 10px;border-radius:999px;font-weight:600;background:#e6f4ea;color:#1e7b34}
.where.store{background:#e8eefc;color:#2a55c4}
.where.refused{background:#fdecea;color:#b52b27}
.where.none,.where.unknown{background:#eceef2;color:#5b6475}
.bar{position:relative;height:18px;background:#eceef2;border-radius:9px;overflow:hidden;margin:6px 0 2px}
.bar>div{height:100%;background:#3fa34d;transition:width .3s}
.bar>div.warn{background:#e0a100}.bar>div.full{background:#d9534f}
.reasons{display:grid;grid-template-columns:repeat(3,1fr);gap:4px 8px}
.reasons div{display:flex;justify-content:space-between;padding:3px 8px;border-radius:6px;background:#f6f7fa;font-size:13px}
.reasons div b{font-family:ui-monospace,monospace;font-weight:400}
.reasons div.hit{background:#fdecea;color:#b52b27;font-weight:600}
.reasons div.hit b{font-weight:700}
.ok{display:inline-block;padding:3px 10px;border-radius:6px;background:#e6f4ea;color:#1e7b34;font-size:13px;margin-bottom:6px}
ul.keys{list-style:none;padding:0;margin:0}
ul.keys li{display:inline-block;margin:0 6px 6px 0;padding:3px 10px;border:1px solid #cfd5e1;border-radius:6px}
ul.keys li.current{border-color:#6a4fd9}
ul.keys li.sealed{background:#efeafd}
.grid{display:grid;grid-template-columns:1fr 1fr 1fr;gap:8px}
.grid div{background:#f6f7fa;border-radius:8px;padding:6px 10px}
.grid b{display:block;font-family:ui-monospace,monospace;font-size:15px}
.col{display:flex;flex-direction:column;gap:20px}
ul.sessions{list-style:none;padding:0;margin:0 0 10px}
ul.sessions li{display:flex;align-items:center;gap:10px;padding:6px 10px;margin-bottom:6px;border-radius:8px;background:#f6f7fa}
ul.sessions li.current{background:#e6f4ea}
ul.sessions li>div{flex:1;min-width:0}
ul.sessions .device{font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
ul.sessions form{margin:0}
.here{padding:2px 8px;border-radius:999px;background:#1e7b34;color:#fff;font-size:12px;white-space:nowrap}
`

// Runs in the browser: fetch what the server sees in this session, render it, tick the clocks.
const SCRIPT = `
const $ = (id) => document.getElementById(id)
let offset = 0, state
const span = (s) => { s = Math.max(0, Math.round(s)); const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60); return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + (s % 60) + 's' }
function tick () {
  if (!state || state.createdAt === null) { for (const id of ['created', 'absolute', 'idle']) $(id).textContent = '–'; return }
  const now = Date.now() / 1000 + offset
  $('created').textContent = span(now - state.createdAt) + ' ago'
  $('absolute').textContent = 'in ' + span(state.expiresAt - now)
  $('idle').textContent = state.idleExpiresAt === null ? 'off' : 'in ' + span(state.idleExpiresAt - now)
}
async function load () {
  state = await (await fetch('/api/session')).json()
  offset = state.now - Date.now() / 1000
  const where = $('where')
  where.className = 'where ' + state.where
  where.textContent = { none: 'no session cookie yet', cookie: 'in the cookie', store: 'in the store (' + state.store + ', version ' + state.storeVersion + ')', refused: 'cookie refused', unknown: 'cannot tell (keys not in kid:key form)' }[state.where]
  $('where-note').textContent = { none: 'nothing stored yet: a session costs nothing until it is written', cookie: 'the encrypted cookie carries the data itself', store: 'the cookie carries only a sealed reference to the stored version', refused: '', unknown: '' }[state.where]
  const pct = Math.min(100, 100 * state.cookieBytes / state.maxCookieSize)
  const bar = $('size-bar')
  bar.style.width = pct + '%'
  bar.className = pct > 90 ? 'full' : pct > 70 ? 'warn' : ''
  $('size').textContent = state.cookieBytes + ' of ' + state.maxCookieSize + ' bytes'
  $('kid').textContent = state.kid ?? '–'
  $('keys').innerHTML = ''
  state.keyIds.forEach((kid, i) => {
    const li = document.createElement('li')
    li.dataset.kid = kid
    li.className = (i === 0 ? 'current' : '') + (kid === state.kid ? ' sealed' : '')
    li.textContent = kid + (i === 0 ? ' (current, seals)' : ' (decrypts only)')
    $('keys').append(li)
  })
  $('ok').textContent = state.outcomes.ok
  const rows = Object.entries(state.outcomes.refused)
  $('refused').innerHTML = rows.map(([r, n]) => '<div id="refused-' + r + '" data-reason="' + r + '"' + (n > 0 ? ' class="hit"' : '') + '><span>' + r + '</span><b>' + n + '</b></div>').join('')
  tick()
  document.body.dataset.inspected = '1'
}
setInterval(tick, 1000)
load()
`

/** A duration in seconds as "1h 2m" (or "12s" under a minute), for the sessions list. */
function span (seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor(s % 3600 / 60)
  return h === 0 && m === 0 ? `${s}s` : `${h === 0 ? '' : `${h}h `}${m}m`
}

/** "Your sessions": one row per live session of the user, this one marked, the others endable. */
function sessionsPanel (rows: SessionRow[]): string {
  const now = Date.now() / 1000
  const items = rows.map((r) => `<li${r.current ? ' class="current"' : ''}><div><div class="device" title="${escape(r.device)}">${escape(r.device)}</div>` +
    `<div class="muted">created ${span(now - r.createdAt)} ago · expires in ${span(r.expiresAt - now)}</div></div>` +
    (r.current
      ? '<span class="here">this device</span>'
      : `<form method="post" action="/sessions/end"><input type="hidden" name="id" value="${escape(r.id)}"><button class="danger">End</button></form>`) +
    '</li>').join('\n')
  const others = rows.some((r) => !r.current)
  return `<section id="sessions">
<h2>Your sessions</h2>
<ul class="sessions">
${items}
</ul>
<form method="post" action="/sessions/others"><button class="danger"${others ? '' : ' disabled'}>Sign out other devices</button></form>
<p class="muted">Every login of this user, wherever it is (log in from another browser to see it here). Ending one refuses its cookie on its next request, counted as <code>revoked</code>.</p>
</section>`
}

export function page (s: PageState): string {
  const login = s.user === undefined
    ? '<form method="post" action="/login"><input name="user" placeholder="your name" required> <button>Log in</button></form>'
    : `<p>Logged in as <b id="user">${escape(s.user)}</b></p><form method="post" action="/logout"><button>Log out</button></form>`
  const banner = s.refused.length === 0
    ? ''
    : `<div class="banner" id="refused-banner">The cookie your browser sent was refused (<b>${s.refused.map(escape).join(', ')}</b>): the request got an empty session, never an error, and the refusal was counted. This page cleared the bad cookie.</div>`
  const keys = s.development
    ? `<h3>Key rotation (development mode only)</h3>
<form method="post" action="/keys/add"><button class="key">Add a new key</button></form>
<form method="post" action="/keys/promote"><button class="key"${s.pendingKid === undefined ? ' disabled' : ''}>Promote ${s.pendingKid === undefined ? 'the new key' : escape(s.pendingKid)}</button></form>
<p class="muted">Adding makes every instance able to open the new key's cookies; promoting makes it the sealing key. Your next request re-seals the session under it, with the same id and expiry: nobody is logged out.</p>`
    : ''
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>fastify-encrypted-session demo</title><style>${STYLE}</style></head>
<body>
<header><h1>fastify-encrypted-session demo</h1><p>The whole session is one encrypted cookie (compact JWE, A256GCM); a session too large for a cookie moves to the store.</p></header>
<main>
<div class="col">
<section>
${banner}<h2>The shop</h2>
${login}
<h3>Counter</h3>
<p><span class="big" id="count">${s.count}</span></p>
<form method="post" action="/count"><button>+1</button></form>
<h3>Cart</h3>
<p><span class="big" id="cart">${s.cart}</span> items</p>
<form method="post" action="/cart/add"><input type="hidden" name="n" value="1"><button>Add 1</button></form>
<form method="post" action="/cart/add"><input type="hidden" name="n" value="25"><button>Add 25</button></form>
<form method="post" action="/cart/clear"><button>Empty cart</button></form>
<p class="muted">Add 25 a few times: past the cookie limit the cart moves to the store, and it comes back to the cookie when emptied.</p>
<h3>Attack it</h3>
<form method="post" action="/tamper"><button class="danger">Tamper with my cookie</button></form>
<p class="muted">Changes one character of the encrypted cookie in your browser.</p>
${keys}
</section>
${s.sessions === undefined ? '' : sessionsPanel(s.sessions)}
</div>
<section id="inspector">
<h2>Inside your session</h2>
<h3>Where the data lives</h3>
<span id="where" class="where none">…</span> <span id="where-note" class="muted"></span>
<h3>Cookie size</h3>
<div class="bar"><div id="size-bar" style="width:0"></div></div>
<div class="muted"><span id="size">…</span>: the whole Set-Cookie (name, value, attributes) against <code>maxCookieSize</code></div>
<h3>Keys</h3>
<div>Sealed by <code id="kid">…</code> (the <code>kid</code> in the cookie's header: anyone can read it, not the rest)</div>
<div style="margin-top:6px">This instance holds: <ul class="keys" id="keys"></ul></div>
<h3>Lifetime</h3>
<div class="grid">
<div>created<b id="created">…</b></div>
<div>absolute expiry<b id="absolute">…</b></div>
<div>idle expiry<b id="idle">…</b></div>
</div>
<h3>Decode outcomes on this instance</h3>
<div class="ok">ok (cookie opened): <b id="ok" class="mono">…</b></div>
<div class="muted">Refused, by reason:</div>
<div class="reasons" id="refused"></div>
</section>
</main>
<script>${SCRIPT}</script>
</body></html>`
}
