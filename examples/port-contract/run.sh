#!/usr/bin/env bash
# Builds the port-contract example with offheap's test port (test/c/port_test.c)
# against csrc/dlmalloc.c, as a portable-dlmalloc user builds a program with
# their own port, and runs it.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-cc}
out=${OUT_DIR:-../../build/examples}
mkdir -p "$out"
$CC -DPORTABLE -DUSE_LOCKS=2 -DUSE_DL_PREFIX -DMSPACES -O2 -pthread \
  main.c ../../test/c/port_test.c ../../csrc/dlmalloc.c -o "$out/port-contract"
"$out/port-contract"
