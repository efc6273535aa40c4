// fileKeys() where the key file's directory cannot be watched (it is gone, or the platform has no
// watch support): watch() neither throws nor calls back, and its stop function is safe to call;
// the app still refreshes on its interval and on unknown kids.
import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileKeys } from '../lib/keys/providers.js'
import { build, engine, KEY1, KEY2 } from './helpers/app.js'

t.test('a directory that does not exist: no throw, a no-op stop', async (t) => {
  const provider = fileKeys(join(tmpdir(), 'fastify-encrypted-session-no-such-dir', 'keys'))
  let changes = 0
  const stop = provider.watch!(() => { changes++ })
  t.type(stop, 'function')
  t.doesNotThrow(() => stop())
  t.equal(changes, 0)
})

t.test('the directory removed after the first load: the app runs, an explicit refresh still reads the file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fes-keys-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'keys')
  writeFileSync(path, KEY1.entry)
  const provider = fileKeys(path)
  const watch = provider.watch!
  let watched = 0
  // The plugin's watch call happens after the directory is gone.
  provider.watch = (changed) => {
    rmSync(dir, { recursive: true, force: true })
    watched++
    return watch(changed)
  }
  const { app } = await build(t, { keys: provider, keyRefreshInterval: 0 })
  t.equal(watched, 1)
  t.equal((await app.inject({ method: 'POST', url: '/incr' })).statusCode, 200)
  const m = engine(app)
  t.equal(await m.refresher!.refresh(), false, 'the file is gone: the refresh fails, keys kept')
  mkdirSync(dir)
  writeFileSync(path, `${KEY2.entry},${KEY1.entry}`)
  t.equal(await m.refresher!.refresh(), true, 'the file is back: read on refresh')
})
