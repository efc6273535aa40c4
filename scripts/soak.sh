#!/usr/bin/env bash
# Long soak run of test/soak.test.ts: one app process on a MemoryStore (2000 entries / 8 MiB) and
# one on a real Redis, under sustained mixed traffic (logins, some with ~6 KB offloaded sessions,
# reads, writes, logouts, abandoned sessions), sampling RSS, heap, open handles, the MemoryStore's
# fill and Redis' DBSIZE/used_memory, and failing if any of them keeps growing (the last third of
# the samples against the first third, margins documented in the test) or if a request fails or a
# session is lost. The CI variant (`npx tap test/soak.test.ts`) runs the same for 34 s.
#
#   SOAK_SECONDS=600 bash scripts/soak.sh        # the default: ten minutes
#   SOAK_SECONDS=3600 bash scripts/soak.sh       # an hour
#
# Knobs (all optional, read by the test):
#   SOAK_SECONDS      length of the run, warm-up included (default here 600; the CI default is 34)
#   SOAK_MAX_AGE      session maxAge in seconds (default 60 for runs of 120 s or more, else 6);
#                     short so that Redis' expiry balances new sessions within the run
#   SOAK_SAMPLE_MS    sampling interval (default: SOAK_SECONDS / 60, at least 1000)
#   SOAK_WARMUP_MAX   longest warm-up in seconds (default 60% of the run; it ends earlier, once a
#                     maxAge has passed and the MemoryStore is full)
#   SOAK_CONCURRENCY  virtual users per app, each one request at a time (default 4)
#   SOAK_CACHE_MAX    the token cache's cache.max (default 10000, the plugin's; 2000 in short runs)
#   SOAK_SEED         replays a run's traffic mix (each run prints its seed)
# Needs redis-server (scripts/system-deps.sh installs it). Builds dist/ first: the app processes
# load the built package.
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_SECONDS=${SOAK_SECONDS:-600}
npm run build
# tap's per-file timeout must cover the run; coverage is off (V8 coverage of a long run of child
# processes is large and says nothing about a soak).
npx tap --timeout $((SOAK_SECONDS + 300)) --disable-coverage --reporter=tap test/soak.test.ts
