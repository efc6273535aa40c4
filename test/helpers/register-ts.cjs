'use strict'
// Runs the TypeScript sources and tests in place, for tap (`--require` in package.json): each .ts
// file outside node_modules is transpiled by TypeScript itself (no type check: `npm run
// typecheck` does that) with an inline source map, and a relative `./x.js` finds `./x.ts`, as it
// does for tsc.
//
// Why not tsx: tsx compiles every file with esbuild's minifyWhitespace, which puts a whole module
// on a handful of lines; V8's coverage is then mapped back line by line, so a function or branch
// that never ran is reported as covered (we planted one and the 100 % gate passed). TypeScript's
// output keeps the source's lines, so coverage means what it says.
//
// Two ways in, by Node version (CI runs both):
// - Node 24 and later: module.registerHooks, synchronous hooks that serve require() and import
//   alike.
// - Node 22: there, registerHooks cannot be chained with the async hooks tap's own plugins add
//   (mock, processinfo: "resolveSync() is not implemented"), so the CommonJS loader's extension
//   point compiles .ts files and an async ESM hook (register-ts-esm.mjs) hands .ts files reached
//   through import (tap's entry point) to it. Node 24 and later would refuse that second route
//   (a .ts file with import syntax is an ES module to their require()).
const Module = require('node:module')
const { readFileSync } = require('node:fs')
const { fileURLToPath, pathToFileURL } = require('node:url')
const ts = require('typescript')

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: true
}

function transpile (fileName) {
  return ts.transpileModule(readFileSync(fileName, 'utf8'), { fileName, compilerOptions }).outputText
}

function tsInstead (specifier) {
  const relative = specifier.startsWith('./') || specifier.startsWith('../')
  return relative && specifier.endsWith('.js') ? specifier.slice(0, -3) + '.ts' : undefined
}

if (Number(process.versions.node.split('.')[0]) >= 24) {
  Module.registerHooks({
    resolve (specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context)
      } catch (err) {
        const ts = tsInstead(specifier)
        if (ts === undefined || err.code !== 'MODULE_NOT_FOUND') throw err
        return nextResolve(ts, context)
      }
    },
    load (url, context, nextLoad) {
      if (!url.startsWith('file:') || !url.endsWith('.ts') || url.endsWith('.d.ts') || url.includes('/node_modules/')) return nextLoad(url, context)
      return { format: 'commonjs', source: transpile(fileURLToPath(url)), shortCircuit: true }
    }
  })
} else {
  Module._extensions['.ts'] = function compileTs (module, filename) {
    module._compile(transpile(filename), filename)
  }
  const resolveFilename = Module._resolveFilename
  Module._resolveFilename = function resolveTs (request, ...rest) {
    try {
      return resolveFilename.call(this, request, ...rest)
    } catch (err) {
      const ts = tsInstead(request)
      if (ts === undefined || err.code !== 'MODULE_NOT_FOUND') throw err
      return resolveFilename.call(this, ts, ...rest)
    }
  }
  Module.register('./register-ts-esm.mjs', pathToFileURL(__filename))
}
