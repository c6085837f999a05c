#!/usr/bin/env bash
# `npm run check:package [-- TARBALL]`: checks the npm tarball as consumers get it. Builds it with
# `npm run package` unless a tarball is given, then, each check in a fresh app folder in a temp dir:
#   a. Node 22, 24, 26 (x64): `npm install <tarball>` with no C/C++ compiler, make or python on
#      PATH succeeds, and scripts/consumer-smoke.js passes there under that line: the prebuilt
#      binary is the one loaded, every allocator x view mode works; then the package's bin:
#      `npx offheap-bench --tiny --trace` replays a tiny trace there and exits 0
#      (consumer-smoke.js --bench; a few seconds);
#   b. arm64 (Node 24 under qemu-aarch64-static): the tarball's files installed by x64 npm, then the
#      package's install step, the consumer smoke and the project's scripts/smoke.js run by the
#      arm64 node: the arm64 prebuild loads and works, with no compiler;
#   c. a copy of the tarball without prebuilds/: with no compiler the install fails with the one
#      readable line of scripts/install.js; with the compilers back it builds from source.
# Prints each check as it runs and ends with "package: N passed, M failed" (exit 1 if any failed).
# Installs the Debian packages it needs when they are missing (CI runs as root on a fresh machine).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() {
  pass=$((pass + 1))
  echo "  ok   $1"
}
# $1 = what failed, $2 = a log to show the end of
bad() {
  fail=$((fail + 1))
  echo "  FAIL $1"
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 25 "$2" | sed 's/^/       | /'
}
finish() {
  echo "package: $pass passed, $fail failed"
  exit $((fail > 0))
}

# qemu for the arm64 node; the aarch64 cross toolchain for the arm64 prebuild, and its sysroot
# (/usr/aarch64-linux-gnu: libc, libstdc++) for the arm64 node under qemu; file for the ELF check.
debs=()
command -v qemu-aarch64-static >/dev/null || debs+=(qemu-user-static)
command -v aarch64-linux-gnu-gcc >/dev/null || debs+=(gcc-aarch64-linux-gnu)
{ command -v aarch64-linux-gnu-g++ >/dev/null && [ -f /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]; } ||
  debs+=(g++-aarch64-linux-gnu)
command -v file >/dev/null || debs+=(file)
if [ "${#debs[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${debs[*]}"
  apt-get update -q && apt-get install -y -q "${debs[@]}"
fi

echo "== tarball"
if [ $# -ge 1 ]; then
  tarball=$(readlink -f "$1")
  [ -f "$tarball" ] && ok "given: $tarball" || bad "no tarball at $1"
else
  tarball=$(npm run --silent package 2>"$tmp/package.log" | tail -n 1)
  if [ -n "$tarball" ] && [ -f "$tarball" ]; then
    ok "npm run package: $tarball ($(stat -c %s "$tarball") bytes)"
  else
    bad "npm run package" "$tmp/package.log"
  fi
fi
[ -n "${tarball:-}" ] && [ -f "$tarball" ] || finish
tar tvzf "$tarball" | awk '$6 ~ /^package\/prebuilds\// { print "       " $6 ": " $3 " bytes" }'

# A PATH with every executable of this machine's PATH except C/C++ compilers, make and python:
# symlinks in one folder, first of a name wins as in a PATH lookup. npm itself needs sh, tar and
# the usual utilities, so an empty PATH would not test what a consumer without a toolchain sees.
# The node_modules/.bin and node-gyp-bin folders npm adds when this runs as an npm script are left
# out: a consumer's PATH has neither.
nocc=$tmp/nocc-bin
mkdir -p "$nocc"
is_build_tool() {
  case "$1" in
    cc | c89 | c99 | c89-* | c99-* | cpp | cpp-* | gcc | gcc-* | g++ | g++-* | c++ | c++* | clang* | tcc | \
      *-gcc | *-gcc-* | *-g++ | *-g++-* | *-c++ | *-c++-* | *-cpp | *-cpp-* | *-cc | \
      make | gmake | *-make | python*) return 0 ;;
  esac
  return 1
}
consumer_path=
IFS=: read -ra path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
  case "$dir" in "" | */node_modules/.bin | */node-gyp-bin) continue ;; esac
  [ -d "$dir" ] || continue
  consumer_path=${consumer_path:+$consumer_path:}$dir
  for exe in "$dir"/*; do
    name=${exe##*/}
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    is_build_tool "$name" && continue
    [ -e "$nocc/$name" ] || [ -L "$nocc/$name" ] || ln -s "$exe" "$nocc/$name"
  done
done
for tool in cc c++ gcc g++ make python3; do
  [ -e "$nocc/$tool" ] && { bad "the no-compiler PATH still has $tool"; finish; }
done

# The environment of a consumer's npm: none of this script's own npm run (its npm_* variables
# would steer the inner npm: local prefix, node-gyp, arch) and no compiler overrides. The registry
# and cache settings stay, so the inner npm fetches from where this machine's npm does.
clean_env=(env)
for var in $(compgen -e); do
  case "${var,,}" in
    npm_config_registry | npm_config_cache | npm_config_userconfig) ;;
    npm_* | init_cwd | cc | cxx | make | python) clean_env+=(-u "$var") ;;
  esac
done

# $1 = Node line: a folder whose only entry is that line's node, to put first on PATH
node_dir() {
  local bin dir=$tmp/node-$1
  bin=$(bash scripts/node-line.sh "$1" 2>"$tmp/node-line-$1.log") || return 1
  mkdir -p "$dir"
  ln -sf "$bin" "$dir/node"
  echo "$dir"
}
# $1 = app folder: an empty consumer project with the smoke test
new_app() {
  mkdir -p "$1"
  echo '{ "name": "consumer-app", "version": "1.0.0", "private": true }' >"$1/package.json"
  cp scripts/consumer-smoke.js "$1/smoke.js"
}
# $1 = app folder, $2 = PATH, rest = npm install arguments; npm's output to $1/install.log
npm_install() {
  local app=$1 path=$2
  shift 2
  (cd "$app" && "${clean_env[@]}" PATH="$path" npm install --no-audit --no-fund "$@") >"$app/install.log" 2>&1
}
# $1 = log of consumer-smoke.js, $2 = text its first line must contain (the node and arch that ran)
smoke_passed() {
  head -n 1 "$1" | grep -qF -- "$2" && tail -n 1 "$1" | grep -qE '^[0-9]+ passed, 0 failed$'
}

echo "== x64: npm install with no compiler, then the consumer smoke"
for major in 22 24 26; do
  if ! dir=$(node_dir "$major"); then
    bad "node $major: scripts/node-line.sh $major" "$tmp/node-line-$major.log"
    continue
  fi
  version=$("$dir/node" --version)
  app=$tmp/app-$major
  new_app "$app"
  if npm_install "$app" "$dir:$nocc" "$tarball"; then
    ok "node $version: npm install (no compiler, make or python on PATH)"
  else
    bad "node $version: npm install (no compiler, make or python on PATH)" "$app/install.log"
    continue
  fi
  if (cd "$app" && "${clean_env[@]}" PATH="$dir:$nocc" node smoke.js) >"$app/smoke.log" 2>&1 &&
    smoke_passed "$app/smoke.log" "node $version linux-x64"; then
    ok "node $version: consumer smoke ($(tail -n 1 "$app/smoke.log"); $(sed -n 's/^binary: //p' "$app/smoke.log"))"
  else
    bad "node $version: consumer smoke" "$app/smoke.log"
  fi
  # The package's bin, as a consumer runs it: npx offheap-bench replays a trace the app recorded.
  if (cd "$app" && "${clean_env[@]}" PATH="$dir:$nocc" node smoke.js --bench) >"$app/bench.log" 2>&1 &&
    smoke_passed "$app/bench.log" "node $version linux-x64"; then
    ok "node $version: npx offheap-bench --tiny --trace tiny.trace ($(tail -n 1 "$app/bench.log"))"
  else
    bad "node $version: npx offheap-bench --tiny --trace tiny.trace" "$app/bench.log"
  fi
done

echo "== arm64: Node 24 under qemu-aarch64-static"
arm=$tmp/app-arm64
new_app "$arm"
if ! x64dir=$(node_dir 24); then
  bad "node 24 (x64, for npm): scripts/node-line.sh 24" "$tmp/node-line-24.log"
elif ! bash scripts/node-line.sh 24 arm64 >/dev/null 2>"$arm/node-line.log"; then
  bad "node 24 arm64: scripts/node-line.sh 24 arm64" "$arm/node-line.log"
# npm under qemu takes minutes; x64 npm puts the same files in place (the dependencies are plain
# JavaScript), and the install step it skips is run next by the arm64 node itself.
elif ! npm_install "$arm" "$x64dir:$nocc" --ignore-scripts "$tarball"; then
  bad "npm install --ignore-scripts (x64 npm) for the arm64 app" "$arm/install.log"
else
  if (cd "$arm/node_modules/offheap" && "${clean_env[@]}" PATH="$nocc" bash "$root/scripts/run-arm64.sh" \
    scripts/install.js) >"$arm/install-step.log" 2>&1 && [ ! -e "$arm/node_modules/offheap/build" ]; then
    ok "arm64: the package's install step (scripts/install.js) finds the prebuild, no compiler"
  else
    bad "arm64: the package's install step (scripts/install.js)" "$arm/install-step.log"
  fi
  if (cd "$arm" && "${clean_env[@]}" PATH="$nocc" bash "$root/scripts/run-arm64.sh" smoke.js) \
    >"$arm/smoke.log" 2>&1 && smoke_passed "$arm/smoke.log" "linux-arm64"; then
    ok "arm64 $(head -n 1 "$arm/smoke.log" | cut -d' ' -f2): consumer smoke ($(tail -n 1 "$arm/smoke.log"); $(sed -n 's/^binary: //p' "$arm/smoke.log"))"
  else
    bad "arm64: consumer smoke" "$arm/smoke.log"
  fi
  # The project's own smoke test (scripts/smoke.js: every method, the error table, a shadow
  # model, GC reclaim, workers, a scribbling child) against the installed package, which it
  # requires as its parent folder.
  cp scripts/smoke.js "$arm/node_modules/offheap/scripts/smoke.js"
  if (cd "$arm" && "${clean_env[@]}" PATH="$nocc" bash "$root/scripts/run-arm64.sh" --expose-gc \
    node_modules/offheap/scripts/smoke.js) >"$arm/project-smoke.log" 2>&1 &&
    tail -n 1 "$arm/project-smoke.log" | grep -qE '^smoke: [0-9]+ passed, 0 failed$'; then
    ok "arm64: scripts/smoke.js on the installed package ($(tail -n 1 "$arm/project-smoke.log"))"
  else
    bad "arm64: scripts/smoke.js on the installed package" "$arm/project-smoke.log"
  fi
fi

echo "== no prebuild for this platform"
# The same package without prebuilds/, as on a platform none was built for.
mkdir -p "$tmp/bare"
if tar xzf "$tarball" -C "$tmp/bare" && rm -rf "$tmp/bare/package/prebuilds" &&
  tar czf "$tmp/offheap-noprebuilds.tgz" -C "$tmp/bare" package; then
  bare_tarball=$tmp/offheap-noprebuilds.tgz
else
  bad "a copy of the tarball without prebuilds/"
fi
if [ -n "${bare_tarball:-}" ] && dir=$(node_dir 24); then
  napi=$("$dir/node" -p process.versions.napi)
  app=$tmp/app-noprebuild
  new_app "$app"
  expect="offheap: no prebuilt binary for linux-x64 (Node-API $napi) and cannot build one: no C/C++ compiler, make or python3 on PATH (missing: cc, c++, make, python3)"
  if npm_install "$app" "$dir:$nocc" "$bare_tarball"; then
    bad "no prebuild, no compiler: npm install succeeded but must fail" "$app/install.log"
  elif [ "$(grep -c 'offheap: ' "$app/install.log")" -eq 1 ] && grep -qF -- "$expect" "$app/install.log"; then
    ok "no prebuild, no compiler: install fails with: $expect"
  else
    bad "no prebuild, no compiler: install fails but not with exactly one line: $expect" "$app/install.log"
  fi

  # The same tarball with this machine's PATH (less npm's additions): scripts/install.js falls
  # back to node-gyp rebuild.
  app=$tmp/app-source
  new_app "$app"
  if npm_install "$app" "$dir:$consumer_path" "$bare_tarball" && [ -f "$app/node_modules/offheap/build/Release/offheap.node" ] &&
    (cd "$app" && "$dir/node" -e "
      const { Arena } = require('offheap');
      const a = new Arena({ capacity: 1 << 20 });
      a.free(a.alloc(10));
      a.destroy();") >>"$app/install.log" 2>&1; then
    ok "no prebuild, compilers on PATH: npm install builds from source and the build loads"
  else
    bad "no prebuild, compilers on PATH: npm install builds from source" "$app/install.log"
  fi
fi

finish
