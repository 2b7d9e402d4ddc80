#!/usr/bin/env bash
# The Go toolchain that builds the control-plane tools (20-k8s-tools.sh). Machines here ship Go in
# /usr/local/go; a fresh Debian has none (and Debian's golang is too old for k8s.io/kubernetes), so
# the toolchain is fetched from the Go module proxy itself (the golang.org/toolchain module, the same
# zip `GOTOOLCHAIN` downloads), unpacked into the tools cache, and linked as /usr/local/bin/go.
set -euo pipefail
GO_VERSION=1.26.8

have_go() {
  local go=$1
  [ -x "$go" ] || return 1
  local v
  v=$("$go" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  # k8s.io/kubernetes v1.36 needs Go >= 1.24.
  [ "$(printf '%s\n1.24\n' "$v" | sort -V | head -n1)" = "1.24" ]
}

if have_go /usr/local/go/bin/go || have_go "$(command -v go || true)"; then
  echo "go: $( (command -v go || echo /usr/local/go/bin/go) ) is recent enough"
  exit 0
fi

TOOLS_ROOT=${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}
DIR="$TOOLS_ROOT/go-$GO_VERSION"
ARCH=$(dpkg --print-architecture)
if [ ! -x "$DIR/go/bin/go" ]; then
  PROXY=${GOPROXY:-https://proxy.golang.org}
  PROXY=${PROXY%%,*}
  url="$PROXY/golang.org/toolchain/@v/v0.0.1-go$GO_VERSION.linux-$ARCH.zip"
  echo "go: fetching the Go $GO_VERSION toolchain from the module proxy"
  rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp"
  curl -sSfL -o "$DIR.tmp/go.zip" "$url"
  python3 -m zipfile -e "$DIR.tmp/go.zip" "$DIR.tmp/x"
  mv "$DIR.tmp/x/golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$ARCH" "$DIR.tmp/go"
  chmod +x "$DIR.tmp/go/bin/"* "$DIR.tmp/go/pkg/tool/"*/*
  rm -rf "$DIR" && mkdir -p "$DIR" && mv "$DIR.tmp/go" "$DIR/go" && rm -rf "$DIR.tmp"
fi
ln -sf "$DIR/go/bin/go" /usr/local/bin/go
echo "go: $("$DIR/go/bin/go" version) linked as /usr/local/bin/go"
