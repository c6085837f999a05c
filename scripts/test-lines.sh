#!/usr/bin/env bash
# `npm run test:lines`: the jest suite (test/js/) and the smoke test (scripts/smoke.js) under each
# supported Node line, with Node binaries from the npm registry (scripts/node-line.sh caches them
# outside the repository). One addon binary serves every line (Node-API), so it is built once, with
# the machine's node, if it is not there yet.
#   OFFHEAP_LINES="22 24 26" (default)   the lines to run
# Prints a line per Node line and ends with "lines: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."

. scripts/summary.sh

lines=${OFFHEAP_LINES:-22 24 26}
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

if ! node -e "require('node-gyp-build')('.')" >/dev/null 2>&1; then
  echo "== addon build (node-gyp rebuild)"
  npx --no-install node-gyp rebuild >"$logdir/gyp.log" 2>&1 || tail -n 30 "$logdir/gyp.log"
fi
[ -f dist/index.js ] || npx --no-install tsc -p tsconfig.json

tally=()
for major in $lines; do
  if ! bin=$(bash scripts/node-line.sh "$major" 2>"$logdir/install-$major.log"); then
    cat "$logdir/install-$major.log"
    echo "node $major: could not be installed"
    fail=$((fail + 1))
    tally+=("node $major: not installed")
    continue
  fi
  version=$("$bin" --version)
  p0=$pass
  f0=$fail

  echo "== node $version: jest (test/js/)"
  "$bin" node_modules/jest/bin/jest.js --runInBand 2>&1 | tee "$logdir/jest-$major.log"
  add_jest_summary "$logdir/jest-$major.log" "${PIPESTATUS[0]}"

  echo "== node $version: smoke (scripts/smoke.js)"
  "$bin" --expose-gc scripts/smoke.js 2>&1 | tee "$logdir/smoke-$major.log"
  add_summary "$logdir/smoke-$major.log"

  tally+=("node $version: $((pass - p0)) passed, $((fail - f0)) failed")
done

echo "== Node lines"
for t in "${tally[@]}"; do echo "  $t"; done
echo "lines: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
