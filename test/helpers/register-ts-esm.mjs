// The ESM half of register-ts.cjs: a .ts file reached through the ESM loader (tap's entry point,
// or an import()) is handed to the CommonJS loader, which compiles it (a "commonjs" format with no
// source means: load it with require's own machinery).
export async function load (url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts') && !url.endsWith('.d.ts') && !url.includes('/node_modules/')) {
    return { format: 'commonjs', shortCircuit: true }
  }
  return nextLoad(url, context)
}
