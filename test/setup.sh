#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (run as root), idempotently:
# Debian packages (HAProxy, nginx, curl, wrk, h2load, iptables, iproute2, shellcheck for actionlint), the npm dependencies (which
# bring Node 24), and the Go-built control-plane tools. Tests never skip: a missing tool fails
# its test with a message naming the tool; this script is how you get them.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(haproxy nginx libnginx-mod-stream curl wrk iptables iproute2 procps openssl ca-certificates libcap2-bin python3 python3-venv g++ make shellcheck nghttp2-client)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test/setup.sh: need root to install Debian packages: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged services must not hold ports or run in the background: tests start their own.
# Only the packaged daemons are stopped (their own config files): an nginx or HAProxy that a test,
# a bench or the test cluster's edge started with its own config is not ours to kill.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
pkill -f -- '^/usr/sbin/haproxy .*-f /etc/haproxy/haproxy\.cfg' >/dev/null 2>&1 || true
pkill -f -- '^nginx: master process /usr/sbin/nginx( -g .*)?$' >/dev/null 2>&1 || true

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

# The transparent helper, strictly: `npm ci` only tries (it must work without a C toolchain).
if [ ! -f sidecar/tcp/native/build/Release/realip_transparent.node ]; then
  npm run build:native
fi

for extra in test/setup.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "setup: $extra"
  bash "$extra"
done
echo "setup: done"
