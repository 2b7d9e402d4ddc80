#!/usr/bin/env bash
# Builds the transparent hop's N-API addon with node-gyp, offline: node-gyp normally downloads the
# full Node headers, which this build does not need (N-API only, ABI-stable). We point --nodedir at
# a tiny directory made from the `node-api-headers` package and an empty common.gypi.
set -euo pipefail
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
