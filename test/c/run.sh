#!/usr/bin/env bash
# Builds and runs the C test suites of the core, without Node, in three
# variants: debug (-O0 -g), sanitize (AddressSanitizer + UndefinedBehavior-
# Sanitizer, errors fatal) and release (-O2). Prints one line per suite and
# ends with "tests: N passed, M failed".
#
#   bash test/c/run.sh                 all variants
#   bash test/c/run.sh debug           one variant (debug | sanitize | release)
#   OFFHEAP_TEST_FILTER=dl_ bash ...   only suites whose name contains dl_
set -uo pipefail
cd "$(dirname "$0")/../.."

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(debug sanitize release)

CC=${CC:-cc}
WARN="-std=c11 -Wall -Wextra -Wno-unused-function -Werror"
DL_PORTABLE="-DPORTABLE -DUSE_LOCKS=2"

# name | test sources (test/c/) | core sources (csrc/) | extra flags
suites=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == \#* ]] && continue
  suites+=("$line")
done < test/c/suites.txt

declare -A vflags=(
  [debug]="-O0 -g"
  [sanitize]="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
  [release]="-O2 -g -DNDEBUG"
)

total_pass=0
total_fail=0
for v in "${variants[@]}"; do
  [ -n "${vflags[$v]+x}" ] || { echo "unknown variant $v" >&2; exit 2; }
  out="build/c/$v"
  mkdir -p "$out"
  for s in "${suites[@]}"; do
    IFS='|' read -r name tests core extra <<<"$s"
    name=$(echo $name)
    [[ -n "${OFFHEAP_TEST_FILTER:-}" && "$name" != *"$OFFHEAP_TEST_FILTER"* ]] && continue
    srcs=()
    for t in $tests; do srcs+=("test/c/$t"); done
    for c in $core; do srcs+=("csrc/$c"); done
    # shellcheck disable=SC2086
    if ! $CC $WARN ${vflags[$v]} $DL_PORTABLE $extra -D_GNU_SOURCE "${srcs[@]}" \
        -o "$out/$name" -lpthread -lm 2>"$out/$name.build.log"; then
      echo "[$v] $name: BUILD FAILED"
      sed -n 1,40p "$out/$name.build.log"
      total_fail=$((total_fail + 1))
      continue
    fi
    log="$out/$name.log"
    start=$(date +%s)
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$out/$name" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    result=$(grep -E '^RESULT [0-9]+ [0-9]+$' "$log" | tail -n 1)
    if [ -n "$result" ]; then
      read -r _ p f <<<"$result"
    else
      p=0; f=1
    fi
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed after reporting
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    if [ "$f" -eq 0 ]; then
      echo "[$v] $name: $p ok (${secs}s)"
    else
      echo "[$v] $name: $p ok, $f FAILING (exit $rc, ${secs}s)"
      grep -vE '^RESULT ' "$log" | tail -n 40
    fi
  done
done
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
