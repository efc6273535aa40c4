#!/usr/bin/env bash
# Long fuzzing run of test/fuzz.test.ts: FUZZ_RUNS runs per property (default 50000) instead of
# the CI default of 300. A failure prints fast-check's seed and path; replay it exactly with
#   FUZZ_SEED=<seed> FUZZ_PATH=<path> npx tap test/fuzz.test.ts
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_RUNS=${FUZZ_RUNS:-50000} npx tap --timeout 3600 test/fuzz.test.ts
