#!/usr/bin/env bash
# Builds the real Kubernetes control-plane tools the chart and envtest suites need, from Go modules,
# once: helm, kube-apiserver and etcd. No Docker, no kubelet, no downloaded release binaries: the Go
# module proxy is all this needs.
#
# The binaries are cached OUTSIDE the clone, keyed by the pinned versions, so a fresh CI clone on the
# same machine reuses them:  ${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}/<key>/bin/
# Running this again is a no-op once the binaries exist. `--print-dir` prints the bin directory
# (test/support/k8s.ts uses it so the key lives in one place) and builds nothing.
#
# Cost, measured on the 2-core machine CI uses, from empty Go module and build caches while other
# test suites loaded the machine (load average 10-16): 21 min wall, 14.3 CPU-min (helm 406 s,
# kube-apiserver 837 s, etcd 24 s). With the binaries cached it is a no-op.
set -euo pipefail

# --- pins (change here only: the cache key follows) -------------------------------------------------
K8S_VERSION=v1.36.3          # k8s.io/kubernetes: kube-apiserver
STAGING_VERSION=v0.36.3      # its k8s.io/* staging modules at the matching release
ETCD_VERSION=v3.6.8          # go.etcd.io/etcd/server/v3, the version kubernetes v1.36.3 itself requires
HELM_VERSION=v3.22.0         # helm.sh/helm/v3
GO=${GO:-/usr/local/go/bin/go}

TOOLS_ROOT=${REALIP_TOOLS_DIR:-$HOME/.cache/realip-tools}
KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
BIN="$TOOLS_ROOT/$KEY/bin"

if [ "${1:-}" = "--print-dir" ]; then
  echo "$BIN"
  exit 0
fi

if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -x "$BIN/helm" ]; then
  echo "k8s-tools: cached in $BIN"
  exit 0
fi

# One build at a time per cache (test/setup.sh may run from several clones at once): the second
# waits, then finds the binaries cached.
mkdir -p "$TOOLS_ROOT"
exec 9>"$TOOLS_ROOT/.lock"
flock 9
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ -x "$BIN/helm" ]; then
  echo "k8s-tools: cached in $BIN (built by a concurrent run)"
  exit 0
fi

if [ ! -x "$GO" ]; then
  GO=$(command -v go || true)
  [ -n "$GO" ] || { echo "k8s-tools: Go toolchain not found (need /usr/local/go/bin/go or go on PATH)" >&2; exit 1; }
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$BIN"
WORK="$TOOLS_ROOT/$KEY/src"
start=$(date +%s)

# --- helm: its own module (it pins a different k8s.io/* release than kube-apiserver) ----------------
if [ ! -x "$BIN/helm" ]; then
  t0=$(date +%s)
  mkdir -p "$WORK/helm"
  cd "$WORK/helm"
  cat > go.mod <<EOF
module realip.dev/tools/helm

go 1.26

require helm.sh/helm/v3 $HELM_VERSION
EOF
  cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
EOF
  "$GO" mod tidy >/dev/null 2>&1 || "$GO" mod download helm.sh/helm/v3
  # As helm's Makefile does: the default Kubernetes version of `helm template`/`lint` (capabilities)
  # follows the client-go it is built with; without these it is v1.20.
  cg=$("$GO" list -m -f '{{.Version}}' k8s.io/client-go)   # v0.N.x -> Kubernetes 1.N
  cg_minor=${cg#v0.}; cg_minor=${cg_minor%%.*}
  "$GO" build -trimpath -o "$BIN/helm.tmp" -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$cg_minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$cg_minor" \
    helm.sh/helm/v3/cmd/helm
  mv "$BIN/helm.tmp" "$BIN/helm"
  echo "k8s-tools: helm $HELM_VERSION built in $(( $(date +%s) - t0 ))s"
fi

# --- kube-apiserver and etcd: one module, so etcd matches the version kubernetes is tested with -----
if [ ! -x "$BIN/kube-apiserver" ] || [ ! -x "$BIN/etcd" ]; then
  t0=$(date +%s)
  mkdir -p "$WORK/k8s/cmd/etcd"
  cd "$WORK/k8s"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging paths,
  # which do not apply to a dependent module: replace each with the published release instead.
  kmod=$("$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  [ -f "$kmod" ] || { echo "k8s-tools: could not fetch k8s.io/kubernetes@$K8S_VERSION go.mod" >&2; exit 1; }
  {
    echo "module realip.dev/tools/k8s"
    echo
    echo "go 1.26"
    echo
    echo "require ("
    echo "	k8s.io/kubernetes $K8S_VERSION"
    echo "	go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    echo ")"
    echo
    echo "replace ("
    sed -n 's/^[[:space:]]*\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$kmod" | sort -u | while read -r m; do
      echo "	$m => $m $STAGING_VERSION"
    done
    echo ")"
  } > go.mod
  cat > cmd/etcd/main.go <<'EOF'
// A minimal etcd for tests: one member, no auth, data in --data-dir, client URL from --listen-client-urls.
package main

import (
	"flag"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "data directory")
	client := flag.String("listen-client-urls", "http://127.0.0.1:2379", "client URL")
	peer := flag.String("listen-peer-urls", "http://127.0.0.1:2380", "peer URL")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("--data-dir is required")
	}
	cu, err := url.Parse(*client)
	if err != nil {
		log.Fatal(err)
	}
	pu, err := url.Parse(*peer)
	if err != nil {
		log.Fatal(err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.Name = "realip-test"
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.LogLevel = "error"
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatal(err)
	}
	<-e.Server.ReadyNotify()
	log.Printf("etcd ready on %s", cu.String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-e.Err():
		log.Print(err)
	}
	e.Close()
}
EOF
  cat > tools.go <<'EOF'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF
  "$GO" mod tidy
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  "$GO" build -trimpath -o "$BIN/kube-apiserver.tmp" -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=1 \
    -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/component-base/version.gitTreeState=clean" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  echo "k8s-tools: kube-apiserver $K8S_VERSION built in $(( $(date +%s) - t0 ))s"
  t1=$(date +%s)
  "$GO" build -trimpath -o "$BIN/etcd.tmp" -ldflags "-s -w" ./cmd/etcd
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  echo "k8s-tools: etcd $ETCD_VERSION built in $(( $(date +%s) - t1 ))s"
fi

echo "k8s-tools: ready in $BIN ($(( $(date +%s) - start ))s)"
