#!/usr/bin/env bash
# `npm test`: everything that must pass, with one summary line at the end.
#   1. TypeScript type-check of lib/
#   2. the C test suites of the core (test/c/run.sh: debug, ASan+UBSan, -O2)
#   3. the native benchmark's self-test (every contestant x workload, tiny
#      counts, contents and heaps verified; no timing is asserted)
# Ends with "tests: N passed, M failed" summed over steps 2 and 3.
set -uo pipefail
cd "$(dirname "$0")/.."

pass=0
fail=0
add_summary() { # $1 = log file; adds its last "N passed, M failed" line
  local line p f
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  if [[ "$line" =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    p=${BASH_REMATCH[1]}
    f=${BASH_REMATCH[2]}
  else
    p=0
    f=1
  fi
  pass=$((pass + p))
  fail=$((fail + f))
}

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

echo "== type-check (tsc --noEmit)"
if npx --no-install tsc -p tsconfig.json --noEmit; then
  pass=$((pass + 1))
else
  fail=$((fail + 1))
fi

echo "== C core (test/c/run.sh)"
bash test/c/run.sh "$@" 2>&1 | tee "$logdir/c.log"
add_summary "$logdir/c.log"

echo "== native benchmark self-test"
bash bench/native/run.sh --selftest 2>&1 | tee "$logdir/bench.log"
add_summary "$logdir/bench.log"

echo "tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
