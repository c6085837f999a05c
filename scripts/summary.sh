# Sourced by the test scripts (scripts/test.sh, scripts/test-lines.sh, .ci/run): counts that add
# up to the one summary line each of them ends with ("tests: N passed, M failed").
pass=${pass:-0}
fail=${fail:-0}

# $1 = log file; adds its last "N passed, M failed" line (none found counts as one failure).
add_summary() {
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

# $1 = jest log, $2 = jest's exit status; adds jest's "Tests: N failed, M passed, T total".
add_jest_summary() {
  local line sline p=0 f=0 sf=0
  line=$(sed -e 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^Tests:' | tail -n 1)
  sline=$(sed -e 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^Test Suites:' | tail -n 1)
  [[ "$line" =~ ([0-9]+)\ passed ]] && p=${BASH_REMATCH[1]}
  [[ "$line" =~ ([0-9]+)\ failed ]] && f=${BASH_REMATCH[1]}
  [[ "$sline" =~ ([0-9]+)\ failed ]] && sf=${BASH_REMATCH[1]}
  # a suite that fails to load (or a jest crash) counts no test: count it
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=$((sf > 0 ? sf : 1))
  fi
  pass=$((pass + p))
  fail=$((fail + f))
}
