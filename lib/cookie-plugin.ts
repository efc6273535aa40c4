// @fastify/cookie is registered for the app when it has not registered it first. A registration of
// @fastify/cookie after ours (say, with a `secret`) cannot then take effect: its options would be
// lost and Fastify would stop it with "decorator already present", naming neither plugin. That
// registration is turned into our coded error, which says to register @fastify/cookie first.
import fastifyCookie from '@fastify/cookie'
import type { FastifyInstance } from 'fastify'
import { errors } from './errors.js'

// The first decorators @fastify/cookie adds; a second registration stops at the first of them.
const COOKIE_DECORATORS = new Set<string | symbol>(['serializeCookie', 'parseCookie'])

type Decorate = (this: FastifyInstance, name: string | symbol, ...rest: unknown[]) => FastifyInstance

export async function ensureCookiePlugin (fastify: FastifyInstance): Promise<void> {
  if (fastify.hasPlugin('@fastify/cookie')) return
  await fastify.register(fastifyCookie)
  const instance = fastify as unknown as { decorate: Decorate }
  const decorate = instance.decorate
  // An own property of this instance: it covers later plugins here and in child contexts, and no
  // other Fastify instance.
  instance.decorate = function (name, ...rest) {
    if (COOKIE_DECORATORS.has(name)) throw new errors.FST_ENCSESS_COOKIE_ORDER()
    return decorate.call(this, name, ...rest)
  }
}
