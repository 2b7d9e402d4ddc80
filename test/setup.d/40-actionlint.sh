#!/usr/bin/env bash
# Builds actionlint (github.com/rhysd/actionlint), the GitHub Actions workflow checker that
# test/integration/workflows.test.ts runs on .github/workflows, from the Go module proxy, once.
# Cached OUTSIDE the clone, keyed by the pinned version, like 20-k8s-tools.sh:
#   ${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}/actionlint-<version>/bin/actionlint
# `--print-path` prints the binary's path (the test uses it so the version lives here only).
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
GO=${GO:-/usr/local/go/bin/go}

TOOLS_ROOT=${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}
BIN="$TOOLS_ROOT/actionlint-$ACTIONLINT_VERSION/bin"

if [ "${1:-}" = "--print-path" ]; then
  echo "$BIN/actionlint"
  exit 0
fi

if [ -x "$BIN/actionlint" ]; then
  echo "actionlint: cached in $BIN"
  exit 0
fi

mkdir -p "$TOOLS_ROOT"
exec 9>"$TOOLS_ROOT/.lock-actionlint"
flock 9
if [ -x "$BIN/actionlint" ]; then
  echo "actionlint: cached in $BIN (built by a concurrent run)"
  exit 0
fi

if [ ! -x "$GO" ]; then
  GO=$(command -v go || true)
  [ -n "$GO" ] || { echo "actionlint: Go toolchain not found (test/setup.d/10-go.sh installs it)" >&2; exit 1; }
fi

t0=$(date +%s)
mkdir -p "$BIN"
# `go install` with a version builds exactly the module's own go.mod requirements, outside any
# module of ours; GOBIN puts the binary in the cache directory.
CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath GOBIN="$BIN.tmp" \
  "$GO" install -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
  "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
mv "$BIN.tmp/actionlint" "$BIN/actionlint"
rmdir "$BIN.tmp"
echo "actionlint: $ACTIONLINT_VERSION built in $(( $(date +%s) - t0 ))s into $BIN"
