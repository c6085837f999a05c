#!/usr/bin/env bash
# Builds the port-contract example against csrc/dlmalloc.c exactly as a
# portable-dlmalloc user would build theirs, and runs it.
set -euo pipefail
cd "$(dirname "$0")"
CC=${CC:-cc}
out=${OUT_DIR:-../../build/examples}
mkdir -p "$out"
$CC -DPORTABLE -DUSE_LOCKS=2 -DUSE_DL_PREFIX -DMSPACES -O2 -pthread \
  main.c ../../csrc/dlmalloc.c -o "$out/port-contract"
"$out/port-contract"
