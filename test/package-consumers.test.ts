// The README's TypeScript, pasted into apps that install the packed tarball: every ```ts block of
// README.md compiles on its own under strict with module nodenext, and with moduleResolution
// bundler, skipLibCheck false and no ioredis installed. The blocks are read from README.md here, so
// the README cannot drift from what is tested. A fixture adds the checks a snippet cannot show
// (what must NOT compile).
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import ts from 'typescript'
import { pack, remove, root, scratchApp } from './helpers/packed.js'

/** The body of every fenced ```ts block of a Markdown text, with the line it starts on. */
function tsBlocks (markdown: string): { line: number, code: string }[] {
  const blocks: { line: number, code: string }[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue
    const start = i + 1
    while (i + 1 < lines.length && !/^```\s*$/.test(lines[++i]!));
    blocks.push({ line: start + 1, code: lines.slice(start, i).join('\n') + '\n' })
  }
  return blocks
}

const settings = {
  nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
  bundler: { module: 'esnext', moduleResolution: 'bundler' }
} as const
type Resolution = keyof typeof settings

// Declaration files are parsed once per setting and shared by the programs (as a language service
// does): a program per file keeps each snippet's augmentations to itself at a fraction of the cost.
const parsed = { nodenext: new Map<string, ts.SourceFile | undefined>(), bundler: new Map<string, ts.SourceFile | undefined>() }

/**
 * Type-checks one file of the app as `tsc` would with strict, skipLibCheck false and no emit. With
 * `whole`, every file of the program is checked (dependencies included); otherwise the file itself
 * and this package's declaration files, which is what a snippet can break. Returns the diagnostics.
 */
function compile (app: string, file: string, resolution: Resolution, whole = false): string {
  const { options, errors } = ts.convertCompilerOptionsFromJson({ ...settings[resolution], target: 'es2022', strict: true, skipLibCheck: false, noEmit: true }, app)
  const host = ts.createCompilerHost(options)
  const read = host.getSourceFile.bind(host)
  host.getSourceFile = (name, language, onError, create) => {
    if (!name.endsWith('.d.ts') && !name.endsWith('.d.mts') && !name.endsWith('.d.cts')) return read(name, language, onError, create)
    const key = `${name}\0${JSON.stringify(language)}`
    if (!parsed[resolution].has(key)) parsed[resolution].set(key, read(name, language, onError, create))
    return parsed[resolution].get(key)
  }
  const program = ts.createProgram({ rootNames: [join(app, file)], options, host })
  const ours = join(app, 'node_modules', 'fastify-encrypted-session')
  const checked = program.getSourceFiles().filter((f) => whole || f.fileName === join(app, file) || f.fileName.startsWith(ours))
  const diagnostics = [
    ...errors,
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((f) => [...program.getSyntacticDiagnostics(f), ...program.getSemanticDiagnostics(f)])
  ]
  return ts.formatDiagnostics(diagnostics, host)
}

const readme = readFileSync(join(root, 'README.md'), 'utf8')
const blocks = tsBlocks(readme)

t.test('the README documents the typed patterns it promises', async (t) => {
  t.ok(blocks.some((b) => b.code.includes('keys: process.env.SESSION_KEYS')), 'a snippet registers with keys: process.env.SESSION_KEYS')
  t.ok(blocks.some((b) => b.code.includes("declare module 'fastify-encrypted-session'")), 'a snippet declares SessionData')
  t.ok(blocks.some((b) => b.code.includes("sessionName: 'adminSession'") && b.code.includes('adminSession:')), 'a snippet types a second session')
})

const packed = pack()
const app = scratchApp(packed, { name: 'scratch', private: true, type: 'module' })
t.teardown(() => { remove(app); remove(packed.dir) })

t.test('the scratch app resolves the tarball and has no ioredis', async (t) => {
  const resolveFromApp = createRequire(join(app, 'index.js'))
  t.throws(() => resolveFromApp.resolve('ioredis'), { code: 'MODULE_NOT_FOUND' })
  t.equal(resolveFromApp.resolve('fastify-encrypted-session'), join(app, 'node_modules', 'fastify-encrypted-session', 'dist', 'lib', 'index.js'))
})

t.test('README snippets and the consumer fixture compile against the packed tarball', async (t) => {
  const files: [string, string][] = blocks.map((b) => [`readme-line-${b.line}.ts`, b.code])
  files.push(['consumer-checks.ts', readFileSync(join(__dirname, 'fixtures', 'consumer', 'checks.ts'), 'utf8')])
  for (const [file, code] of files) {
    writeFileSync(join(app, file), code)
    for (const resolution of ['nodenext', 'bundler'] as const) {
      // The fixture's program is checked whole: no dependency's declarations may fail either.
      t.equal(compile(app, file, resolution, file === 'consumer-checks.ts'), '', `${file} compiles (${resolution})`)
    }
  }
})

t.test('the compiler does report a mistake in such a file (the check is live)', async (t) => {
  writeFileSync(join(app, 'wrong.ts'), "import plugin from 'fastify-encrypted-session'\nconst n: number = plugin\nexport { n }\n")
  t.match(compile(app, 'wrong.ts', 'nodenext'), /TS2322/)
})
