'use strict'
// Runs the TypeScript sources and tests in place, for tap (`--require` in package.json): each .ts
// file outside node_modules is transpiled by TypeScript itself (no type check: `npm run
// typecheck` does that) with an inline source map, and a relative import of `./x.js` finds
// `./x.ts`, as it does for tsc.
//
// Why not tsx: tsx compiles every file with esbuild's minifyWhitespace, which puts a whole module
// on a handful of lines; V8's coverage is then mapped back line by line, so a function or branch
// that never ran is reported as covered (we planted one and the 100 % gate passed). TypeScript's
// output keeps the source's lines, so coverage means what it says.
const { registerHooks } = require('node:module')
const { readFileSync } = require('node:fs')
const { fileURLToPath } = require('node:url')
const ts = require('typescript')

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: true
}

function isOwnTs (url) {
  return url.startsWith('file:') && url.endsWith('.ts') && !url.endsWith('.d.ts') && !url.includes('/node_modules/')
}

registerHooks({
  resolve (specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context)
    } catch (err) {
      const relative = specifier.startsWith('./') || specifier.startsWith('../')
      if (!relative || !specifier.endsWith('.js') || err.code !== 'MODULE_NOT_FOUND') throw err
      return nextResolve(specifier.slice(0, -3) + '.ts', context)
    }
  },
  load (url, context, nextLoad) {
    if (!isOwnTs(url)) return nextLoad(url, context)
    const fileName = fileURLToPath(url)
    const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), { fileName, compilerOptions })
    return { format: 'commonjs', source: outputText, shortCircuit: true }
  }
})
