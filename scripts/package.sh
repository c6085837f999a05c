#!/usr/bin/env bash
# `npm run package [-- OUTDIR]`: the npm tarball of offheap with prebuilt binaries, so that installing
# it on linux-x64 or linux-arm64 needs no compiler (scripts/install.js finds the binary and stops).
# Everything is assembled in a staging folder outside the repository — the package's sources, a
# fresh dist/, the prebuilds — so nothing stale in the repository is shipped, and the repository's
# build/ and dist/ are never touched:
#   1. lib/ compiled to <stage>/dist (tsc)
#   2. <stage>/prebuilds/linux-x64/offheap.node and linux-arm64/offheap.node: prebuildify --napi
#      --strip, one Node-API binary per arch for every Node line; arm64 cross-compiled with
#      Debian's aarch64-linux-gnu-gcc/g++ and checked with `file` to be an aarch64 ELF
#   3. npm pack of the stage into OUTDIR (default pack/)
# Prints the tarball's path as the last line of stdout; progress and build logs go to stderr.
# Needs the devDependencies (npm install) and the Debian packages gcc-aarch64-linux-gnu,
# g++-aarch64-linux-gnu and file. Can be run again: each run replaces the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
outdir=${1:-pack}

say() { echo "package: $*" >&2; }
die() {
  echo "package: $*" >&2
  exit 1
}

for tool in node_modules/.bin/tsc node_modules/.bin/prebuildify node_modules/.bin/node-gyp; do
  [ -x "$tool" ] || die "$tool is missing; run npm install first"
done
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ aarch64-linux-gnu-strip file; do
  command -v "$tool" >/dev/null ||
    die "$tool is missing; apt-get install -y gcc-aarch64-linux-gnu g++-aarch64-linux-gnu file"
done

# node-gyp takes the Node headers from nodedir; npm passes its config to scripts as
# npm_config_nodedir, but a direct `bash scripts/package.sh` has to read it, and with none set the
# headers next to this node are used: otherwise node-gyp would try to download them.
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  if [ -z "$nodedir" ] || [ "$nodedir" = undefined ] || [ "$nodedir" = null ]; then
    nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
    [ -f "$nodedir/include/node/node_api.h" ] || nodedir=
  fi
  [ -n "$nodedir" ] && export npm_config_nodedir=$nodedir
fi
# node-gyp runs make with one job unless told otherwise.
export JOBS=${JOBS:-max}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/package
mkdir -p "$stage/scripts"
cp -R package.json README.md LICENSE binding.gyp csrc lib "$stage/"
cp scripts/install.js "$stage/scripts/"
# the benchmark and trace replay the package's bin (offheap-bench) runs
mkdir -p "$stage/bench/js" "$stage/bench/traces"
cp bench/js/*.js "$stage/bench/js/"
cp bench/traces/*.trace "$stage/bench/traces/"
# node-addon-api's headers for the build; npm pack never packs node_modules.
ln -s "$root/node_modules" "$stage/node_modules"

say "compiling lib/ to the stage's dist/ (tsc)"
node_modules/.bin/tsc -p tsconfig.json --outDir "$stage/dist" >&2

# $1 = arch; the rest = environment for the build (the cross compilers for arm64)
prebuild() {
  local arch=$1
  shift
  say "building prebuilds/linux-$arch (prebuildify --napi --strip --arch $arch)"
  rm -rf "$stage/build"
  if ! (cd "$stage" && env "$@" node_modules/.bin/prebuildify --napi --strip --arch "$arch" \
    --strip-bin "${STRIP_BIN:-strip}" >"$work/build-$arch.log" 2>&1); then
    tail -n 40 "$work/build-$arch.log" >&2
    die "prebuildify failed for $arch"
  fi
}
prebuild x64
# Host strip does not read aarch64 objects ("Unable to recognise the format"), hence the
# cross binutils' strip; node-gyp's --arch arm64 alone would still run the host gcc.
STRIP_BIN=aarch64-linux-gnu-strip prebuild arm64 CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++

check_elf() {
  local f=$stage/prebuilds/linux-$1/offheap.node desc
  [ -f "$f" ] || die "no $f after prebuildify"
  desc=$(file -b "$f")
  [[ "$desc" == *"$2"* ]] || die "prebuilds/linux-$1/offheap.node is not $2: $desc"
  say "prebuilds/linux-$1/offheap.node: $(stat -c %s "$f") bytes, $desc"
}
check_elf x64 "x86-64"
check_elf arm64 "ARM aarch64"

rm -rf "$stage/build"

# dist/ was compiled above, so pack without the lifecycle scripts (prepare would only run tsc
# again, over a lib/ the stage has but a tsconfig.json it does not).
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
say "npm pack into $outdir"
name=$(cd "$stage" && npm pack --ignore-scripts --pack-destination "$outdir" --loglevel=error | tail -n 1)
[ -f "$outdir/$name" ] || die "npm pack did not write $outdir/$name"
echo "$outdir/$name"
