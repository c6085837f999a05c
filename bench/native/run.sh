#!/usr/bin/env bash
# offheap native benchmark: builds bench/native/bench.c with csrc/dlmalloc.c, csrc/buddy.c and
# the test port test/c/port_test.c (-O2 -DNDEBUG) into build/bench/ and runs it.
#
#   bash bench/native/run.sh              full run (< 5 min on 2 CPUs): table,
#                                         JSON and SVG chart in
#                                         bench/results/native-<date>.{json,svg}
#                                         and bench/results/native-latest.{json,svg}
#   bash bench/native/run.sh --quick      short run (< 60 s): table + JSON + SVG in
#                                         bench/results/native-<date>-quick.{json,svg}
#   bash bench/native/run.sh --selftest   every contestant x workload (threaded
#                                         rows included) with tiny counts,
#                                         contents verified, heaps checked, JSON
#                                         shape-checked and SVG checked for
#                                         well-formedness with node; writes
#                                         build/bench/selftest.{json,svg} only;
#                                         exits non-zero on any failure
#   bash bench/native/run.sh --help
#
# Extra arguments after the mode are passed to the binary (--samples N,
# --seed N, --only dl,glibc, --list). CC and EXTRA_CFLAGS are honoured;
# BENCH_NO_OPTIONAL=1 leaves mimalloc and jemalloc out even when installed.
#
# mimalloc and jemalloc are included when their Debian development packages
# are installed (this script never installs anything):
#   apt-get install libmimalloc-dev libjemalloc-dev
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=full
args=()
for a in "$@"; do
  case "$a" in
    --quick) mode=quick ;;
    --selftest) mode=selftest ;;
    --full) mode=full ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --list) mode=list ;;
    *) args+=("$a") ;;
  esac
done

CC=${CC:-cc}
OUT=build/bench
mkdir -p "$OUT"

# Build failures and the like end a --selftest with the summary line too.
build_failed() {
  echo "bench: $1" >&2
  [ "$mode" = selftest ] && echo "bench-selftest: 0 passed, 1 failed"
  exit 2
}

[ -f csrc/dlmalloc.c ] || build_failed "csrc/dlmalloc.c does not exist yet"

OPT="-O2 -DNDEBUG"
DLDEFS="-DPORTABLE -DUSE_LOCKS=2 -DUSE_DL_PREFIX -DMSPACES -DNO_MALLOC_STATS=1"
WARN="-std=c11 -Wall -Wextra"
defs=()
found=()

# ---- optional contestants: detected here, loaded by the binary with dlopen ----
# Linking them normally would make their exported malloc/free replace glibc's
# in the whole process (Debian builds both without a prefix), so the binary
# dlopen()s them RTLD_LOCAL and uses their prefixed / non-standard API only.
have_header() { echo "#include <$1>" | $CC -E -x c - >/dev/null 2>&1; }
libpath() {
  local p
  p=$($CC -print-file-name="$1" 2>/dev/null || true)
  if [ -n "$p" ] && [ "$p" != "$1" ] && [ -e "$p" ]; then readlink -f "$p"; fi
}
if [ -n "${BENCH_NO_OPTIONAL:-}" ]; then
  :  # BENCH_NO_OPTIONAL=1: leave mimalloc and jemalloc out even when installed
elif have_header mimalloc.h; then
  lib=$(libpath libmimalloc.so)
  if [ -n "$lib" ]; then defs+=(-DHAVE_MIMALLOC "-DMIMALLOC_LIB=\"$lib\""); found+=(mimalloc); fi
fi
if [ -z "${BENCH_NO_OPTIONAL:-}" ] && have_header jemalloc/jemalloc.h; then
  lib=$(libpath libjemalloc.so)
  if [ -n "$lib" ]; then defs+=(-DHAVE_JEMALLOC "-DJEMALLOC_LIB=\"$lib\""); found+=(jemalloc); fi
fi
if [ ${#found[@]} -lt 2 ]; then
  echo "bench: optional contestants found: ${found[*]:-none} (install more with:" \
       "apt-get install libmimalloc-dev libjemalloc-dev)" >&2
fi

# ---- build ---------------------------------------------------------------------
# The core is compiled in its own step, without -Werror: its warnings are its
# owners' business. The harness must build cleanly (-Werror under --selftest).
# shellcheck disable=SC2086
$CC $WARN $OPT $DLDEFS ${EXTRA_CFLAGS:-} -D_GNU_SOURCE -Icsrc -c csrc/dlmalloc.c -o "$OUT/dlmalloc.o" \
  2>"$OUT/dlmalloc.build.log" || { cat "$OUT/dlmalloc.build.log" >&2; build_failed "building csrc/dlmalloc.c failed"; }
# shellcheck disable=SC2086
$CC $WARN $OPT ${EXTRA_CFLAGS:-} -D_GNU_SOURCE -Icsrc -c csrc/buddy.c -o "$OUT/buddy.o" \
  2>"$OUT/buddy.build.log" || { cat "$OUT/buddy.build.log" >&2; build_failed "building csrc/buddy.c failed"; }
werror=""
[ "$mode" = selftest ] && werror="-Werror"
# The port is the test port built lean (test/c/port_test.h): its lock hooks are
# the bare spinlock, with no counting.
# shellcheck disable=SC2086
$CC $WARN $werror $OPT $DLDEFS ${EXTRA_CFLAGS:-} -D_GNU_SOURCE -DPORT_TEST_LEAN -Icsrc \
  "${defs[@]+"${defs[@]}"}" bench/native/bench.c test/c/port_test.c "$OUT/dlmalloc.o" "$OUT/buddy.o" \
  -o "$OUT/native-bench" -lm -ldl -lpthread || build_failed "building the benchmark failed"

ccver=$($CC --version 2>/dev/null | head -n 1)
cflags="$OPT $DLDEFS${EXTRA_CFLAGS:+ $EXTRA_CFLAGS}"

# A dlopen'd Debian jemalloc uses initial-exec TLS and needs more static TLS
# room than glibc reserves for dlopen by default.
if [ -z "${GLIBC_TUNABLES:-}" ]; then
  export GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384
elif [[ "$GLIBC_TUNABLES" != *optional_static_tls* ]]; then
  export GLIBC_TUNABLES="$GLIBC_TUNABLES:glibc.rtld.optional_static_tls=16384"
fi

check_json() { node bench/native/check-json.js "$@"; }
# The chart: node bench/native/svg.js IN.json OUT.svg (checks what it writes).
make_svg() { node bench/native/svg.js "$1" "$2"; }

case "$mode" in
  list)
    "$OUT/native-bench" --list
    ;;
  selftest)
    json="$OUT/selftest.json"
    svg="$OUT/selftest.svg"
    rm -f "$json" "$svg"
    rc=0
    "$OUT/native-bench" --selftest --json "$json" --cc-version "$ccver" --cflags "$cflags" \
      "${args[@]+"${args[@]}"}" >"$OUT/selftest.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
      grep '^bench' "$OUT/selftest.log" | head -n 40
      echo "bench: the benchmark binary exited with $rc (log: $OUT/selftest.log)"
    fi
    if [ ! -s "$json" ]; then
      echo "bench-selftest: 0 passed, 1 failed"
      exit 1
    fi
    # A chart that cannot be made leaves no file; the check then counts it failed.
    make_svg "$json" "$svg" >/dev/null || true
    check_json "$json" --expect-all --svg "$svg" || rc=1
    exit $rc
    ;;
  quick|full)
    mkdir -p bench/results
    stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
    tmp="bench/results/native-$stamp.json.tmp"
    trap 'rm -f "$tmp"' EXIT
    flag=()
    [ "$mode" = quick ] && flag=(--quick)
    "$OUT/native-bench" "${flag[@]+"${flag[@]}"}" --json "$tmp" --cc-version "$ccver" \
      --cflags "$cflags" "${args[@]+"${args[@]}"}"
    check_json "$tmp"
    if [ "$mode" = quick ]; then
      dest="bench/results/native-$stamp-quick.json"
      mv "$tmp" "$dest"
      make_svg "$dest" "${dest%.json}.svg" >/dev/null
      printf 'results:\n  %s\n  %s\n' "$dest" "${dest%.json}.svg"
    else
      dest="bench/results/native-$stamp.json"
      mv "$tmp" "$dest"
      make_svg "$dest" "${dest%.json}.svg" >/dev/null
      cp "$dest" bench/results/native-latest.json
      cp "${dest%.json}.svg" bench/results/native-latest.svg
      printf 'results:\n  %s\n  %s\n  %s\n' "$dest" "${dest%.json}.svg" "bench/results/native-latest.{json,svg}"
    fi
    ;;
esac
