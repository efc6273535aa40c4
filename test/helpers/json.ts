// Spies on JSON.stringify, to show which long strings a piece of code serializes.

/** Runs `fn` (to the end, if it is async) and counts JSON.stringify calls on strings of 1024+ characters. */
export async function countLongStringifies<T> (fn: () => T | Promise<T>): Promise<{ count: number, result: T }> {
  const original = JSON.stringify
  let count = 0
  JSON.stringify = ((...args: Parameters<typeof JSON.stringify>) => {
    if (typeof args[0] === 'string' && args[0].length >= 1024) count++
    return original(...args)
  }) as typeof JSON.stringify
  try {
    const result = await fn()
    return { count, result }
  } finally {
    JSON.stringify = original
  }
}
