#!/usr/bin/env bash
# Builds the images the test cluster runs, with buildah, from this checkout, and writes them as
# docker-archive tarballs (what `ctr images import` reads) into the images cache:
#   localhost/realip/realip-sidecar:test   <- Dockerfile.sidecar, unmodified (bases as build ARGs)
#   localhost/realip/realip-webhook:test   <- Dockerfile.webhook, unmodified
#   localhost/realip-test/apps:1           <- test/cluster/images/Dockerfile.apps (nginx, TCP apps)
#   localhost/realip-test/pause:1          <- the pod sandbox (a static Go binary from 30-cluster-tools.sh)
#   localhost/realip-test/grpc-app:1       <- the Go gRPC test peer (static, from 25-go-test-apps.sh)
# Each is rebuilt only when its inputs (the files it copies, its Dockerfile, the base images' key)
# change. Prints the archive directory on its last line.
# Needs the bases from test/setup.d/31-cluster-base-images.sh and the tools from 30-cluster-tools.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
source test/cluster/buildah-env.sh
OUT="$IMAGES_ROOT/archives"
mkdir -p "$OUT"
exec 8>"$IMAGES_ROOT/.lock"
flock 8

for base in node:24-bookworm-slim node:24-bookworm nodejs24-debian12:nonroot; do
  buildah inspect --type image "localhost/realip-base/$base" >/dev/null 2>&1 || {
    echo "images: base image localhost/realip-base/$base missing: run bash test/setup.d/31-cluster-base-images.sh" >&2
    exit 1
  }
done
NODE_TOOLS_BIN=$(bash test/setup.d/30-cluster-tools.sh --print-dir)

base_id() { buildah inspect --type image --format '{{.FromImageID}}' "localhost/realip-base/$1"; }
# Content hash of a list of paths (files and directories), ignoring build output and local state.
inputs_hash() {
  {
    for p in "$@"; do
      find "$p" \( -name node_modules -o -name build -o -name dist -o -name .cache \) -prune -o -type f -print
    done | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
}

build() { # name dockerfile context tag key [build args...]
  local name=$1 dockerfile=$2 context=$3 tag=$4 key=$5
  shift 5
  if [ -f "$OUT/$name.tar" ] && [ "$(cat "$OUT/$name.key" 2>/dev/null)" = "$key" ]; then
    echo "images: $tag cached"
    return
  fi
  local t0
  t0=$(date +%s)
  # --volume: the machine's CA bundle in RUN steps only (npm ci behind a TLS-inspecting network).
  buildah bud --quiet --network host --pull-never --layers=false \
    --volume "$HOST_CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro" \
    "$@" -f "$dockerfile" -t "$tag" "$context" >/dev/null
  rm -f "$OUT/$name.tar"
  buildah push --quiet "$tag" "docker-archive:$OUT/$name.tar:$tag" >/dev/null
  echo "$key" > "$OUT/$name.key"
  echo "images: $tag built in $(( $(date +%s) - t0 ))s"
}

SRC=(package.json package-lock.json tsconfig.json tsconfig.build.json bin cli common sidecar webhook packages .dockerignore)
slim=$(base_id node:24-bookworm-slim)
build sidecar Dockerfile.sidecar . localhost/realip/realip-sidecar:test \
  "$(inputs_hash "${SRC[@]}" Dockerfile.sidecar)-$slim-$(base_id node:24-bookworm)" \
  --build-arg NODE_BUILD_IMAGE=localhost/realip-base/node:24-bookworm \
  --build-arg NODE_IMAGE=localhost/realip-base/node:24-bookworm-slim
build webhook Dockerfile.webhook . localhost/realip/realip-webhook:test \
  "$(inputs_hash "${SRC[@]}" Dockerfile.webhook)-$slim-$(base_id nodejs24-debian12:nonroot)" \
  --build-arg NODE_IMAGE=localhost/realip-base/node:24-bookworm-slim \
  --build-arg RUNTIME_IMAGE=localhost/realip-base/nodejs24-debian12:nonroot
build apps test/cluster/images/Dockerfile.apps test/cluster/images localhost/realip-test/apps:1 \
  "$(inputs_hash test/cluster/images)-$slim" \
  --build-arg NODE_IMAGE=localhost/realip-base/node:24-bookworm-slim

# A one-binary image (FROM scratch) for a static Go program: name, binary, tag, user.
binary_image() {
  local name=$1 bin=$2 tag=$3 user=$4 key c
  [ -x "$bin" ] || { echo "images: $bin missing: run bash test/setup.sh" >&2; exit 1; }
  key=$(sha256sum "$bin" | cut -c1-16)
  if [ -f "$OUT/$name.tar" ] && [ "$(cat "$OUT/$name.key" 2>/dev/null)" = "$key" ]; then
    echo "images: $tag cached"
    return
  fi
  c=$(buildah from scratch)
  buildah add --quiet "$c" "$bin" "/$(basename "$bin")" >/dev/null
  buildah config --entrypoint "[\"/$(basename "$bin")\"]" --user "$user" "$c"
  buildah commit --quiet --rm "$c" "$tag" >/dev/null
  rm -f "$OUT/$name.tar"
  buildah push --quiet "$tag" "docker-archive:$OUT/$name.tar:$tag" >/dev/null
  echo "$key" > "$OUT/$name.key"
  echo "images: $tag built"
}
[ -x "$NODE_TOOLS_BIN/pause" ] || { echo "images: $NODE_TOOLS_BIN/pause missing: run bash test/setup.d/30-cluster-tools.sh" >&2; exit 1; }
binary_image pause "$NODE_TOOLS_BIN/pause" localhost/realip-test/pause:1 65535:65535
binary_image grpc-app .cache/testapps/realip-grpc-peer localhost/realip-test/grpc-app:1 65532:65532
echo "$OUT"
