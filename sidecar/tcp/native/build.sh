#!/usr/bin/env bash
# Builds the transparent hop's N-API addon with node-gyp, offline: node-gyp normally downloads the
# full Node headers, which this build does not need (N-API only, ABI-stable). We point --nodedir at
# a tiny directory made from the `node-api-headers` package and an empty common.gypi.
#
# `build.sh --optional` (what `npm ci` runs through `prepare`): on a machine without a C toolchain,
# warn and succeed, so `npm ci && npx realip demo` works with only Node and npm; only transparent
# listeners need the addon, and they say so at start. test/setup.sh installs the toolchain and runs
# the strict build, so the tests never run without it.
set -euo pipefail
optional=0
[ "${1:-}" = "--optional" ] && optional=1
missing=()
for tool in make g++ python3; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  msg="build:native: cannot build the transparent helper: missing ${missing[*]} (Debian: apt-get install g++ make python3)"
  if [ "$optional" = 1 ]; then
    echo "$msg; transparent listeners will be unavailable until 'npm run build:native'" >&2
    exit 0
  fi
  echo "$msg" >&2
  exit 1
fi
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
headers="$root/node_modules/node-api-headers/include"
gyp="$root/node_modules/node-gyp/bin/node-gyp.js"
for f in "$headers/node_api.h" "$gyp"; do
  [ -e "$f" ] || { echo "build:native: $f is missing (run npm ci)" >&2; exit 1; }
done
work="$root/node_modules/.cache/realip-native"
nodedir="$work/nodedir"
rm -rf "$nodedir"
mkdir -p "$nodedir/include/node"
cp "$headers"/*.h "$nodedir/include/node/"
printf "{ 'target_defaults': { 'default_configuration': 'Release', 'configurations': { 'Release': {} } } }\n" >"$nodedir/include/node/common.gypi"
cd "$here"
node "$gyp" rebuild --nodedir="$nodedir" --loglevel=warn >"$work/node-gyp.log" 2>&1 || {
  cat "$work/node-gyp.log" >&2
  exit 1
}
test -f build/Release/realip_transparent.node
echo "build:native: built sidecar/tcp/native/build/Release/realip_transparent.node"
