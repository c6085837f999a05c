#!/usr/bin/env bash
# Runs the arm64 Linux node of one Node line on this (x64) machine under qemu user-mode emulation,
# with the aarch64 C/C++ runtime of Debian's cross toolchain as its system root:
#   scripts/run-arm64.sh <node-args...>          e.g. scripts/run-arm64.sh -p process.arch
#   OFFHEAP_ARM64_LINE=24 (default)              the Node line (scripts/node-line.sh <line> arm64)
# Needs the Debian packages qemu-user-static and g++-aarch64-linux-gnu (which brings
# /usr/aarch64-linux-gnu with libc and libstdc++).
set -euo pipefail
sysroot=/usr/aarch64-linux-gnu
command -v qemu-aarch64-static >/dev/null || {
  echo "run-arm64.sh: qemu-aarch64-static is missing (apt-get install -y qemu-user-static)" >&2
  exit 1
}
[ -f "$sysroot/lib/libstdc++.so.6" ] || {
  echo "run-arm64.sh: no aarch64 libstdc++ in $sysroot (apt-get install -y g++-aarch64-linux-gnu)" >&2
  exit 1
}
node=$(bash "$(dirname "$0")/node-line.sh" "${OFFHEAP_ARM64_LINE:-24}" arm64)
# Child node processes need the same launcher (scripts/smoke.js reads it).
export OFFHEAP_NODE_LAUNCHER="qemu-aarch64-static -L $sysroot"
exec qemu-aarch64-static -L "$sysroot" "$node" "$@"
