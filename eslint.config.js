'use strict'

// neostandard, as the Fastify organisation's plugins use it; `ts: true` adds typescript-eslint's
// rules for the .ts files, and the ignores come from .gitignore so that build output is never linted.
module.exports = require('neostandard')({
  ts: true,
  ignores: require('neostandard').resolveIgnoresFromGitignore()
})
