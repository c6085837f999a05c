#!/usr/bin/env bash
# Real programs on the dlmalloc core: builds build/preload/liboffheap-malloc.so (csrc/dlmalloc.c as
# the global heap, locked, with the port in csrc/preload/preload.c) and runs python3, node and the
# C compiler with LD_PRELOAD pointing at it.
#
#   bash bench/native/preload.sh            check, then time each program against glibc malloc
#                                           (5 runs each, alternating; the fastest run of each)
#   bash bench/native/preload.sh --check    check only: each program's output is the same as
#                                           under glibc, fork while threads allocate, four
#                                           threads allocating at once, and the dynamic linker
#                                           bound malloc and free to the shared object; ends
#                                           with "preload: N passed, M failed"
#   bash bench/native/preload.sh --runs N   runs per program and allocator when timing
#
# Programs (single-threaded allocation-heavy work; node's helper threads allocate too):
#   python3   builds 300k small dicts and strings, JSON round trip
#   node      200k objects through JSON (V8's heap is its own; malloc serves the rest)
#   cc        compiles csrc/dlmalloc.c with -O2 (cc1 is what allocates)
# and, timed only, bench/native/malloc_threads.c with 1, 2 and 4 threads (throughput, Mops/s).
# CC is honoured (default cc).
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=time
runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check ;;
    --runs) runs=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "preload.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

CC=${CC:-cc}
OUT=build/preload
LIB=$PWD/$OUT/liboffheap-malloc.so
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass=0
fail=0
ok() { echo "  ok    $1"; pass=$((pass + 1)); }
bad() { echo "  FAIL  $1"; fail=$((fail + 1)); }

# -fno-builtin: the compiler must not turn the allocator's own code into calls of
# malloc/calloc (which are now itself). REALLOC_ZERO_BYTES_FREES: realloc(p, 0) frees
# and returns NULL, as glibc's does.
echo "== build $OUT/liboffheap-malloc.so"
if ! $CC -std=gnu11 -O2 -DNDEBUG -fPIC -shared -fno-builtin -Wall -Wextra -Werror \
    -DPORTABLE -DUSE_LOCKS=2 -DNO_MALLOC_STATS=1 -DREALLOC_ZERO_BYTES_FREES=1 \
    -Wl,--version-script=csrc/preload/exports.map -Wl,-z,now \
    -o "$LIB" csrc/preload/preload.c csrc/dlmalloc.c -lpthread; then
  bad "build"
  echo "preload: $pass passed, $fail failed"
  exit 1
fi
ok "build"

py_prog='import json
d = [{"k": i, "s": "x" * (i % 97), "t": [i, str(i)]} for i in range(300000)]
s = json.dumps(d)
print(len(json.loads(s)), len(s))'
node_prog='const a = [];
for (let i = 0; i < 200000; i++) a.push({ i, s: String(i).repeat(5), t: [i, i * 2] });
const s = JSON.stringify(a);
console.log(JSON.parse(s).length, s.length, require("zlib").gzipSync(s).length);'

# name, then the command; it writes its output to stdout (compared across allocators)
programs=(python3 node cc)
run_program() { # $1 = name, $2 = output file
  case "$1" in
    python3) python3 -c "$py_prog" >"$2" ;;
    node) node -e "$node_prog" >"$2" ;;
    cc) $CC -O2 -DUSE_DL_PREFIX -DMSPACES -c csrc/dlmalloc.c -o "$2.o" && sha256sum <"$2.o" >"$2" ;;
  esac
}

echo "== check: each program's output under the core equals its output under glibc"
for p in "${programs[@]}"; do
  if ! command -v "${p/cc/$CC}" >/dev/null 2>&1; then bad "$p: not installed"; continue; fi
  if ! run_program "$p" "$work/$p.glibc"; then bad "$p: failed under glibc"; continue; fi
  if ! LD_PRELOAD=$LIB run_program "$p" "$work/$p.offheap" 2>"$work/$p.err"; then
    bad "$p: failed under the core: $(tail -n 3 "$work/$p.err" | tr '\n' ' ')"
    continue
  fi
  if cmp -s "$work/$p.glibc" "$work/$p.offheap"; then ok "$p: same output ($(head -c 60 "$work/$p.glibc" | tr '\n' ' '))"
  else bad "$p: output differs"; fi
done

# fork() while other threads allocate: a child must not inherit a held heap lock
# (csrc/preload/preload.c registers the core's atfork handlers).
echo "== check: fork while three threads allocate (test/c/preload_fork.c)"
if $CC -O2 -Wall -o "$work/preload_fork" test/c/preload_fork.c -lpthread &&
    LD_PRELOAD=$LIB timeout 600 "$work/preload_fork" >"$work/fork.out" 2>&1; then ok "$(cat "$work/fork.out")"
else bad "fork with allocating threads: $(tail -n 3 "$work/fork.out" 2>/dev/null | tr '\n' ' ')"; fi

echo "== check: four threads allocate at once (bench/native/malloc_threads.c, 0.5 s)"
if $CC -O2 -Wall -o "$work/malloc_threads" bench/native/malloc_threads.c -lpthread &&
    LD_PRELOAD=$LIB timeout 60 "$work/malloc_threads" 4 0.5 >"$work/mt.out" 2>&1; then ok "$(cat "$work/mt.out")"
else bad "malloc_threads: $(tail -n 3 "$work/mt.out" 2>/dev/null | tr '\n' ' ')"; fi

echo "== check: the dynamic linker binds malloc and free to the core"
LD_DEBUG=bindings LD_PRELOAD=$LIB python3 -c 'pass' 2>"$work/bindings" || true
for sym in malloc free; do
  if grep -q "to $LIB \[0\]: normal symbol \`$sym'" "$work/bindings"; then ok "python3: $sym bound to the core"
  else bad "python3: $sym not bound to the core"; fi
done

if [ "$mode" = check ]; then
  echo "preload: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

# Wall-clock seconds of one run (the machine is otherwise idle; the fastest of the runs counts).
secs() { # $1 = program, $2 = "glibc" or "offheap"
  local t0 t1
  t0=$(date +%s%N)
  if [ "$2" = offheap ]; then LD_PRELOAD=$LIB run_program "$1" "$work/t"; else run_program "$1" "$work/t"; fi
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000))
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "== time: fastest of $runs runs each, glibc and the core alternating"
echo "   CPU: $cpu ($(nproc) CPUs); $(ldd --version | head -n 1); node $(node --version); python3 $(python3 -c 'import sys; print(sys.version.split()[0])')"
printf '   %-10s %12s %12s %8s\n' program "glibc s" "offheap s" ratio
for p in "${programs[@]}"; do
  g=999999999999
  o=999999999999
  for _ in $(seq "$runs"); do
    t=$(secs "$p" glibc); [ "$t" -lt "$g" ] && g=$t
    t=$(secs "$p" offheap); [ "$t" -lt "$o" ] && o=$t
  done
  awk -v p="$p" -v g="$g" -v o="$o" 'BEGIN { printf "   %-10s %12.3f %12.3f %7.2fx\n", p, g / 1e6, o / 1e6, o / g }'
done

# Throughput with every thread allocating at once: the heap's one lock against glibc's
# per-thread arenas and caches (bench/native/malloc_threads.c; best of 3 runs of 2 s).
echo "== threads: malloc_threads, Mops/s (best of 3 runs of 2 s), the core's throughput / glibc's"
printf '   %-10s %12s %12s %8s\n' threads glibc offheap ratio
mops() { # $1 = threads, $2 = glibc|offheap
  local best=0 m
  for _ in 1 2 3; do
    if [ "$2" = offheap ]; then m=$(LD_PRELOAD=$LIB "$work/malloc_threads" "$1" 2 | sed 's/.*: \([0-9.]*\) Mops.*/\1/')
    else m=$("$work/malloc_threads" "$1" 2 | sed 's/.*: \([0-9.]*\) Mops.*/\1/'); fi
    best=$(awk -v a="$best" -v b="$m" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "$best"
}
for t in 1 2 4; do
  g=$(mops "$t" glibc)
  o=$(mops "$t" offheap)
  awk -v t="$t" -v g="$g" -v o="$o" 'BEGIN { printf "   %-10s %12.2f %12.2f %7.2fx\n", t, g, o, o / g }'
done
echo "preload: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
