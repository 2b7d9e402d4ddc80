#!/usr/bin/env bash
# Builds the Go test peers (test/apps/go: net/http and golang.org/x/net/http2/h2c servers) into
# .cache/testapps/ in the clone. Modules come from the Go module proxy (cached in GOMODCACHE, so a
# rebuild takes seconds). Tests that need them fail with a message naming this script if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=$(command -v go || true)
[ -n "$GO" ] || { echo "go-test-apps: Go toolchain not found (test/setup.d/10-go.sh installs it)" >&2; exit 1; }
out=.cache/testapps
mkdir -p "$out"
if [ -x "$out/realip-testapp" ] && [ -z "$(find test/apps/go -newer "$out/realip-testapp" -type f)" ]; then
  echo "go-test-apps: up to date"
  exit 0
fi
t0=$(date +%s)
(cd test/apps/go && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" build -trimpath -o "../../../$out/realip-testapp.tmp" .)
mv "$out/realip-testapp.tmp" "$out/realip-testapp"
echo "go-test-apps: built in $(( $(date +%s) - t0 ))s"
