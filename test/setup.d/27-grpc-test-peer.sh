#!/usr/bin/env bash
# Builds the Go gRPC test peer (test/apps/grpc-go: google.golang.org/grpc server and client with a
# raw-bytes codec) into .cache/testapps/realip-grpc-peer. Its own module, so the net/http peer's
# go.mod (25-go-test-apps.sh) stays small. Modules come from the Go module proxy (cached in
# GOMODCACHE). Rebuilt when a source is newer than the binary; tests that need it fail with a
# message naming this script if it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-/usr/local/go/bin/go}
[ -x "$GO" ] || GO=$(command -v go || true)
[ -n "$GO" ] || { echo "grpc-test-peer: Go toolchain not found (test/setup.d/10-go.sh installs it)" >&2; exit 1; }
out=.cache/testapps
bin="$out/realip-grpc-peer"
mkdir -p "$out"
if [ -x "$bin" ] && [ -z "$(find test/apps/grpc-go -newer "$bin" -type f)" ]; then
  echo "grpc-test-peer: up to date"
  exit 0
fi
t0=$(date +%s)
(cd test/apps/grpc-go && CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local "$GO" build -trimpath -o "../../../$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "grpc-test-peer: built in $(( $(date +%s) - t0 ))s"
