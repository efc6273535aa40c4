// Key providers: where a key set comes from when it is not a static option, and how it is
// refreshed while the app runs. A provider is just an async function returning a key set, so
// apps can write their own; these are the built-in ones.
import { readFile } from 'node:fs/promises'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'

/** Anything the `keys` option accepts, produced on demand. */
export type KeyProvider = (() => Promise<unknown> | unknown) & {
  /**
   * Optional: call `changed` whenever the source may have changed (a file was replaced), so the
   * plugin refreshes at once instead of at the next interval. Returns a function that stops it.
   */
  watch?: (changed: () => void) => () => void
}

/** Reads a variable (SESSION_KEYS by default) from the environment each time it is asked. */
export function envKeys (name = 'SESSION_KEYS', env: NodeJS.ProcessEnv = process.env): KeyProvider {
  return () => {
    const value = env[name]
    if (value === undefined || value.trim() === '') throw new Error(`environment variable ${name} is not set`)
    return value
  }
}

/**
 * Reads a key file: a JWK Set (JSON) or the SESSION_KEYS format. Changes are picked up without a
 * restart, including the way Kubernetes updates a mounted secret (it swaps a symlinked directory,
 * which a watch on the file alone would miss), hence the watch on the directory.
 */
export function fileKeys (path: string): KeyProvider {
  const provider: KeyProvider = async () => {
    try {
      return (await readFile(path, 'utf8')).trim()
    } catch (err) {
      // The most common first-hour mistake gets a sentence, not a bare ENOENT.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      throw new Error(`the key file ${path} does not exist; fix the path, or write a key from \`npx fastify-encrypted-session keygen\` into it`)
    }
  }
  provider.watch = (changed) => {
    let watcher: FSWatcher | undefined
    try {
      watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        // Kubernetes renames "..data"; editors write temporaries: any change near the file counts.
        if (file === null || file === basename(path) || file.startsWith('..')) changed()
      })
      watcher.on('error', () => {})
    } catch {
      // No watch support here: the refresh interval still applies.
    }
    return () => watcher?.close()
  }
  return provider
}
