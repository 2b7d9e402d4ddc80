#!/usr/bin/env bash
# The node half of the test cluster (test/cluster/, issue 14): Debian's containerd, runc and CNI
# plugins, buildah and mmdebstrap for the images, and kubelet, kube-controller-manager,
# kube-scheduler, kube-proxy and kubectl built from the same k8s.io/kubernetes release as
# 20-k8s-tools.sh's kube-apiserver. The same go.mod (same versions by MVS), the same Go module and
# build caches: the packages kube-apiserver already compiled are not compiled again.
#
# Cached OUTSIDE the clone, keyed by the pins:  ${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}/<key>/bin/
# `--print-dir` prints that bin directory and builds nothing (test/cluster/tools.ts uses it).
set -euo pipefail

K8S_VERSION=v1.36.3          # must match 20-k8s-tools.sh (one release for the whole cluster)
STAGING_VERSION=v0.36.3
GO=${GO:-/usr/local/go/bin/go}

TOOLS_ROOT=${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}
KEY="k8s-node-${K8S_VERSION}"
BIN="$TOOLS_ROOT/$KEY/bin"
BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl pause)

if [ "${1:-}" = "--print-dir" ]; then
  echo "$BIN"
  exit 0
fi

# --- Debian packages -------------------------------------------------------------------------------
APT_PACKAGES=(containerd runc containernetworking-plugins buildah mmdebstrap uidmap util-linux)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "cluster-tools: need root to install Debian packages: ${missing[*]}" >&2; exit 1; }
  echo "cluster-tools: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged containerd must not run in the background: the test cluster starts its own.
if command -v systemctl >/dev/null 2>&1; then systemctl stop containerd >/dev/null 2>&1 || true; fi

all_built() {
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}
if all_built; then
  echo "cluster-tools: cached in $BIN"
  exit 0
fi

# The same lock as 20-k8s-tools.sh: one Go build at a time per cache (they share the build cache,
# and two k8s builds at once on 2 cores help nobody).
mkdir -p "$TOOLS_ROOT"
exec 9>"$TOOLS_ROOT/.lock"
flock 9
if all_built; then
  echo "cluster-tools: cached in $BIN (built by a concurrent run)"
  exit 0
fi

if [ ! -x "$GO" ]; then
  GO=$(command -v go || true)
  [ -n "$GO" ] || { echo "cluster-tools: Go toolchain not found (need /usr/local/go/bin/go or go on PATH)" >&2; exit 1; }
fi
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$BIN"
WORK="$TOOLS_ROOT/$KEY/src"
mkdir -p "$WORK/cmd/pause"
cd "$WORK"
start=$(date +%s)

# As in 20-k8s-tools.sh: k8s.io/kubernetes's staging modules are v0.0.0 + ./staging replaces, which
# do not apply to a dependent module, so each is replaced by its published release.
kmod=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$kmod" ] || { echo "cluster-tools: could not fetch k8s.io/kubernetes@$K8S_VERSION go.mod" >&2; exit 1; }
{
  echo "module realip.dev/tools/k8snode"
  echo
  echo "go 1.26"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$kmod" | sort -u | while read -r m; do
    echo "	$m => $m $STAGING_VERSION"
  done
  echo ")"
} > go.mod
cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
EOF
# The pod sandbox ("pause") process: PID 1 of every pod; it holds the namespaces, reaps zombies
# and exits on SIGTERM/SIGINT. Static, so the image is this one file.
cat > cmd/pause/main.go <<'EOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
EOF
"$GO" mod tidy
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
  -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
  -X k8s.io/component-base/version.gitTreeState=clean"
for b in kubelet kube-controller-manager kube-scheduler kube-proxy kubectl; do
  [ -x "$BIN/$b" ] && continue
  t0=$(date +%s)
  "$GO" build -trimpath -o "$BIN/$b.tmp" -ldflags "$LDFLAGS" "k8s.io/kubernetes/cmd/$b"
  mv "$BIN/$b.tmp" "$BIN/$b"
  echo "cluster-tools: $b $K8S_VERSION built in $(( $(date +%s) - t0 ))s"
done
if [ ! -x "$BIN/pause" ]; then
  "$GO" build -trimpath -o "$BIN/pause.tmp" -ldflags "-s -w" ./cmd/pause
  mv "$BIN/pause.tmp" "$BIN/pause"
fi
echo "cluster-tools: ready in $BIN ($(( $(date +%s) - start ))s)"
