// Set-Cookie for the session cookie. Attributes are checked once at register and rendered to a fixed
// suffix, so a response only appends the value and Max-Age; the whole header is measured here.
import { errors } from './errors.js'

/** The public CookieOptions type; attributes are validated here at register. */
export type { CookieOptions as CookieAttributes } from '../types/index.js'
import type { CookieOptions as CookieAttributes } from '../types/index.js'

// RFC 6265 section 4.1.1: a cookie-name is an RFC 2616 token.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// Attribute values: any CHAR except CTLs and ";" (RFC 6265 av-octet is not spelled out for all,
// but these two rules are what keeps an attribute from smuggling another).
const ATTR_VALUE = /^[\x21-\x3A\x3C-\x7E]+$/

export function checkCookieName (name: unknown): string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new errors.FST_ENCSESS_INVALID_OPTION('cookieName', 'it must be a non-empty RFC 6265 token (letters, digits and !#$%&\'*+-.^_`|~)')
  }
  return name
}

export interface CookieWriter {
  /** The full Set-Cookie value for a token; `secure` resolves 'auto'. */
  serialize (value: string, maxAge: number, https: boolean, override?: CookieAttributes): string
  clear (https: boolean, override?: CookieAttributes): string
  /** Length of serialize()'s result minus the value's length. */
  overhead (maxAge: number, https: boolean, override?: CookieAttributes): number
}

export function cookieWriter (name: string, attrs: CookieAttributes): CookieWriter {
  const base = normalize(name, attrs)
  const fixed = render(base)
  return {
    serialize (value, maxAge, https, override) {
      const a = override === undefined ? fixed : render(normalize(name, { ...attrs, ...override }))
      return `${name}=${value}; Max-Age=${maxAge}${https ? a.https : a.http}`
    },
    overhead (maxAge, https, override) {
      if (override !== undefined) return this.serialize('', maxAge, https, override).length
      // "<name>=; Max-Age=<maxAge><attributes>" without building it: this runs on every write.
      return name.length + 11 + String(maxAge).length + (https ? fixed.https : fixed.http).length
    },
    clear (https, override) {
      const a = override === undefined ? fixed : render(normalize(name, { ...attrs, ...override }))
      return `${name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT${https ? a.https : a.http}`
    }
  }
}

interface Normalized extends Required<Pick<CookieAttributes, 'path' | 'httpOnly' | 'secure' | 'partitioned'>> {
  domain: string | undefined
  sameSite: 'Lax' | 'Strict' | 'None' | undefined
  priority: 'Low' | 'Medium' | 'High' | undefined
}

function normalize (name: string, attrs: CookieAttributes): Normalized {
  const n: Normalized = {
    domain: attrs.domain,
    path: attrs.path ?? '/',
    httpOnly: attrs.httpOnly ?? true,
    secure: attrs.secure ?? true,
    sameSite: sameSiteOf(attrs.sameSite),
    partitioned: attrs.partitioned ?? false,
    priority: priorityOf(attrs.priority)
  }
  if (n.domain !== undefined && (typeof n.domain !== 'string' || !ATTR_VALUE.test(n.domain))) invalid('cookie.domain', 'it has characters not allowed in a cookie attribute')
  if (typeof n.path !== 'string' || !ATTR_VALUE.test(n.path)) invalid('cookie.path', 'it has characters not allowed in a cookie attribute')
  if (typeof n.httpOnly !== 'boolean') invalid('cookie.httpOnly', 'it must be a boolean')
  if (n.secure !== true && n.secure !== false && n.secure !== 'auto') invalid('cookie.secure', 'it must be true, false or "auto"')
  if (typeof n.partitioned !== 'boolean') invalid('cookie.partitioned', 'it must be a boolean')
  if (n.sameSite === 'None' && n.secure === false) invalid('cookie.sameSite', 'SameSite=None requires secure: true (browsers drop such cookies otherwise)')
  // Cookie prefixes are promises the browser enforces; refuse settings the browser would reject.
  if (name.startsWith('__Secure-') || name.startsWith('__Host-')) {
    if (n.secure !== true) invalid('cookie.secure', `a "${name.startsWith('__Host-') ? '__Host-' : '__Secure-'}" cookie must be secure: true`)
  }
  if (name.startsWith('__Host-') && (n.domain !== undefined || n.path !== '/')) {
    invalid('cookie', 'a "__Host-" cookie must have path "/" and no domain')
  }
  return n
}

function render (n: Normalized): { http: string, https: string } {
  let s = ''
  if (n.domain !== undefined) s += `; Domain=${n.domain}`
  s += `; Path=${n.path}`
  if (n.httpOnly) s += '; HttpOnly'
  if (n.sameSite !== undefined) s += `; SameSite=${n.sameSite}`
  if (n.partitioned) s += '; Partitioned'
  if (n.priority !== undefined) s += `; Priority=${n.priority}`
  const secure = `${s}; Secure`
  return n.secure === 'auto' ? { http: s, https: secure } : n.secure ? { http: secure, https: secure } : { http: s, https: s }
}

function sameSiteOf (v: CookieAttributes['sameSite']): Normalized['sameSite'] {
  switch (v) {
    case undefined: case 'lax': return 'Lax'
    case 'strict': case true: return 'Strict'
    case 'none': return 'None'
    case false: return undefined
    default: return invalid('cookie.sameSite', 'it must be "lax", "strict", "none" or a boolean')
  }
}

function priorityOf (v: CookieAttributes['priority']): Normalized['priority'] {
  switch (v) {
    case undefined: return undefined
    case 'low': return 'Low'
    case 'medium': return 'Medium'
    case 'high': return 'High'
    default: return invalid('cookie.priority', 'it must be "low", "medium" or "high"')
  }
}

function invalid (option: string, why: string): never {
  throw new errors.FST_ENCSESS_INVALID_OPTION(option, why)
}
