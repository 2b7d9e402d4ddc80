#!/usr/bin/env bash
# The Python test peers' libraries, from PyPI, pinned, in a virtualenv inside the clone
# (.cache/pyenv): grpcio and grpcio-health-checking (real gRPC servers and clients for the
# HTTP/2 hop and the gRPC probes) and h2 (the HTTP/2 frames the spoofing suite forges). Debian's python3 + python3-venv (test/setup.sh) run it.
# Tests that need them fail with a message naming this script if the virtualenv is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || { echo "python-test-peers: python3 not found (test/setup.sh installs it)" >&2; exit 1; }
venv=.cache/pyenv
want="grpcio==1.85.1 grpcio-health-checking==1.85.1 h2==4.4.1"
stamp="$venv/.realip-requirements"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "python-test-peers: up to date"
  exit 0
fi
t0=$(date +%s)
rm -rf "$venv"
"$PY" -m venv "$venv"
# shellcheck disable=SC2086 # $want is a list of requirement specifiers
"$venv/bin/pip" install --quiet --disable-pip-version-check $want
"$venv/bin/python" -c 'import grpc, grpc_health.v1.health, h2; print("python-test-peers: grpcio", grpc.__version__, "h2", h2.__version__)'
echo "$want" > "$stamp"
echo "python-test-peers: installed in $(( $(date +%s) - t0 ))s"
