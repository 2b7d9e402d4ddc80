#!/usr/bin/env bash
# Builds the Go test peers into .cache/testapps/ in the clone, each from its own module:
#   test/apps/go       -> realip-testapp    net/http and golang.org/x/net/http2/h2c servers
#   test/apps/grpc-go  -> realip-grpc-peer  google.golang.org/grpc server and client (raw-bytes codec)
# Modules come from the Go module proxy (cached in GOMODCACHE, so a rebuild takes seconds). Each is
# rebuilt when one of its sources is newer than its binary. Tests that need them fail with a
# message naming this script if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=$(command -v go || true)
[ -n "$GO" ] || { echo "go-test-apps: Go toolchain not found (test/setup.d/10-go.sh installs it)" >&2; exit 1; }
out=.cache/testapps
mkdir -p "$out"
build() { # build SOURCE_DIR BINARY_NAME
  local src=$1 bin="$out/$2" t0
  if [ -x "$bin" ] && [ -z "$(find "$src" -newer "$bin" -type f)" ]; then
    echo "go-test-apps: $2 up to date"
    return
  fi
  t0=$(date +%s)
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" build -trimpath -o "../../../$bin.tmp" .)
  mv "$bin.tmp" "$bin"
  echo "go-test-apps: $2 built in $(( $(date +%s) - t0 ))s"
}
build test/apps/go realip-testapp
build test/apps/grpc-go realip-grpc-peer
