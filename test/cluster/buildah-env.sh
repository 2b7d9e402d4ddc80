# Sourced by the image scripts: where buildah keeps its storage (outside the clone, cached) and the
# settings this VM forces (docs/test-cluster.md). Needs: set -euo pipefail in the caller.
IMAGES_ROOT=${REALIP_IMAGES_DIR:-$HOME/.cache/realip-images}
export BUILDAH_RUNTIME=/usr/sbin/runc   # crun refuses the hybrid cgroup v1/v2 layout of these VMs
export BUILDAH_ISOLATION=oci
mkdir -p "$IMAGES_ROOT/storage" "$IMAGES_ROOT/run"
if [ ! -f "$IMAGES_ROOT/storage.conf" ]; then
  cat > "$IMAGES_ROOT/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$IMAGES_ROOT/storage"
runroot = "$IMAGES_ROOT/run"
EOF
fi
export CONTAINERS_STORAGE_CONF="$IMAGES_ROOT/storage.conf"
# Debian's own mirror, as the machine's apt sources name it (RUN steps and mmdebstrap use it).
DEBIAN_MIRROR=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
if [ -z "$DEBIAN_MIRROR" ]; then
  DEBIAN_MIRROR=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n1)
fi
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# npm inside a build container must trust what the machine's npm trusts (some networks put their own
# CA in front of the registry). The bundle is bind-mounted into RUN steps only, never copied into an
# image: the images keep Debian's own CA list.
HOST_CA_BUNDLE=$(npm config get cafile 2>/dev/null || true)
case "$HOST_CA_BUNDLE" in ""|null|undefined) HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt ;; esac
for tool in buildah mmdebstrap runc npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "images: $tool not found (run test/setup.sh)" >&2; exit 1; }
done
