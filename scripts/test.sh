#!/usr/bin/env bash
# `npm test`: everything that must pass, with one summary line at the end.
#   1. TypeScript type-check of lib/
#   2. the C test suites of the core (test/c/run.sh: debug, ASan+UBSan, -O2)
#   3. the native benchmark's self-test (every contestant x workload, tiny
#      counts, contents and heaps verified; no timing is asserted)
#   4. the dlmalloc core as the process's malloc (bench/native/preload.sh --check: python3,
#      node and the C compiler run on it through LD_PRELOAD, fork while threads allocate)
#   5. the addon: built if missing (node-gyp-build: prebuild or source build),
#      lib/ compiled to dist/, then scripts/smoke.js through the public entry
#   6. the jest suite of the public API (test/js/, `jest --runInBand`, run right
#      after the type-check); its
#      "Tests: N failed, M passed, T total" line is added to the summary
# Ends with "tests: N passed, M failed" summed over steps 2 to 6.
set -uo pipefail
cd "$(dirname "$0")/.."

. scripts/summary.sh

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

# The addon first: `node-gyp rebuild` starts by deleting build/, where the C
# suites put their binaries too.
echo "== addon build (node-gyp-build, tsc)"
addon_ok=1
if ! node -e "require('node-gyp-build')('.')" >/dev/null 2>&1; then
  npx --no-install node-gyp rebuild >"$logdir/gyp.log" 2>&1 || { tail -n 30 "$logdir/gyp.log"; addon_ok=0; }
fi
npx --no-install tsc -p tsconfig.json || addon_ok=0

echo "== type-check (tsc --noEmit)"
if npx --no-install tsc -p tsconfig.json --noEmit; then
  pass=$((pass + 1))
else
  fail=$((fail + 1))
fi

echo "== JS tests (jest --runInBand, test/js/)"
npx --no-install jest --runInBand 2>&1 | tee "$logdir/jest.log"
add_jest_summary "$logdir/jest.log" "${PIPESTATUS[0]}"

echo "== C core (test/c/run.sh)"
bash test/c/run.sh "$@" 2>&1 | tee "$logdir/c.log"
add_summary "$logdir/c.log"

echo "== native benchmark self-test"
bash bench/native/run.sh --selftest 2>&1 | tee "$logdir/bench.log"
add_summary "$logdir/bench.log"

echo "== the core as the process's malloc (bench/native/preload.sh --check)"
bash bench/native/preload.sh --check 2>&1 | tee "$logdir/preload.log"
add_summary "$logdir/preload.log"

echo "== addon smoke (scripts/smoke.js)"
if [ "$addon_ok" -eq 1 ]; then
  node --expose-gc scripts/smoke.js 2>&1 | tee "$logdir/smoke.log"
  add_summary "$logdir/smoke.log"
else
  echo "addon build failed"
  fail=$((fail + 1))
fi

echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
