// `npm run demo`: the demo on 127.0.0.1:3000 (PORT and HOST may override).
import { buildDemo } from './app.js'

async function start (): Promise<void> {
  let app
  try {
    app = await buildDemo({ logger: true })
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`)
    process.exit(1)
  }
  await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 3000) })
}

start().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
