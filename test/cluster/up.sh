#!/usr/bin/env bash
# Brings up the one-node test cluster (docs/test-cluster.md) and prints the admin kubeconfig path:
#   netns realip-client (198.51.100.7) -- netns realip-edge -- netns realip-node (10.250.0.2)
# In the node namespace: etcd, kube-apiserver (PodSecurity, NodeRestriction, RBAC + Node authz),
# kube-controller-manager, kube-scheduler, containerd (runc, CNI bridge cni0 10.88.0.0/24), kubelet,
# kube-proxy (iptables). All from the pinned builds of test/setup.d/{20,30}-*.sh and Debian.
# On any failure it tears everything down (down.sh) and exits non-zero with the failing log's tail.
# Images: the archives of build-images.sh are imported into containerd.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
source "$HERE/env.sh"

fail() { echo "cluster up: $*" >&2; exit 1; }
CP_BIN=$(bash "$ROOT/test/setup.d/20-k8s-tools.sh" --print-dir)
NODE_BIN=$(bash "$ROOT/test/setup.d/30-cluster-tools.sh" --print-dir)
for b in "$CP_BIN/etcd" "$CP_BIN/kube-apiserver" "$NODE_BIN/kubelet" "$NODE_BIN/kube-controller-manager" \
  "$NODE_BIN/kube-scheduler" "$NODE_BIN/kube-proxy" "$NODE_BIN/kubectl"; do
  [ -x "$b" ] || fail "$b not found: run bash test/setup.sh (builds it once, cached)"
done
for t in containerd containerd-shim-runc-v2 runc ctr nsenter ip iptables openssl; do
  command -v "$t" >/dev/null 2>&1 || fail "$t not found: run bash test/setup.sh"
done
for p in bridge host-local portmap loopback; do
  [ -x "/usr/lib/cni/$p" ] || fail "CNI plugin /usr/lib/cni/$p not found (Debian: containernetworking-plugins)"
done
ARCHIVES=${REALIP_IMAGE_ARCHIVES:-$HOME/.cache/realip-images/archives}
for a in pause sidecar webhook apps grpc-app; do
  [ -f "$ARCHIVES/$a.tar" ] || fail "image archive $ARCHIVES/$a.tar missing: run bash test/cluster/build-images.sh"
done

# One test cluster per machine (fixed paths): never tear down one that a live test run owns.
OWNER=${REALIP_CLUSTER_OWNER:-$PPID}
if [ -f "$STATE/owner" ]; then
  o=$(cat "$STATE/owner")
  if [ "$o" != "$OWNER" ] && kill -0 "$o" 2>/dev/null; then
    fail "a test cluster in $STATE is in use by pid $o; wait for it, or remove it with bash test/cluster/down.sh"
  fi
fi

# A previous run that crashed may have left anything: start from nothing.
bash "$HERE/down.sh" >/dev/null 2>&1 || bash "$HERE/down.sh" >&2 || fail "leftovers from a previous run could not be removed"
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "cluster up: failed; tearing down" >&2; bash "$HERE/down.sh" >&2 || true; fi' EXIT

# REALIP_CLUSTER_FAULT=kubelet makes the kubelet fail to start (the suite checks that a failed
# start leaves nothing behind).
FAULT_KUBELET=
[ "${REALIP_CLUSTER_FAULT:-}" = kubelet ] && FAULT_KUBELET=1
t_start=$(date +%s)
mkdir -p "$STATE"/{pids,logs,pki,etcd,containerd,kubelet,cni/net.d,cni/ipam,pod-logs,proxy}
# containerd's store (the unpacked images, ~2 GB of small files) on a tmpfs: unpacking is faster,
# and teardown is an unmount instead of minutes of unlinking on a loaded disk.
mount -t tmpfs -o size=8g,mode=0711 realip-containerd "$STATE/containerd"
echo "$OWNER" > "$STATE/owner"
for p in "${FIXED_PATHS[@]}"; do [ -e "$p" ] || echo "$p" >> "$STATE/created-paths"; done
mkdir -p "$TRACK_CGROUP"

# --- network: client -- edge -- node ----------------------------------------------------------------
ip netns add "$NODE_NS"; ip netns add "$EDGE_NS"; ip netns add "$CLIENT_NS"
ip link add rc-node netns "$EDGE_NS" type veth peer name eth0 netns "$NODE_NS"
ip link add rc-client netns "$EDGE_NS" type veth peer name eth0 netns "$CLIENT_NS"
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
in_ns "$NODE_NS" ip link set lo up
in_ns "$NODE_NS" ip addr add "$NODE_IP/24" dev eth0
in_ns "$NODE_NS" ip link set eth0 up
in_ns "$NODE_NS" ip route add default via "$EDGE_NODE_SIDE_IP"
in_ns "$EDGE_NS" ip link set lo up
in_ns "$EDGE_NS" ip addr add "$EDGE_NODE_SIDE_IP/24" dev rc-node
in_ns "$EDGE_NS" ip addr add "$EDGE_CLIENT_SIDE_IP/24" dev rc-client
in_ns "$EDGE_NS" ip -6 addr add "$EDGE_CLIENT_SIDE_IP6/64" dev rc-client nodad
in_ns "$EDGE_NS" ip link set rc-node up
in_ns "$EDGE_NS" ip link set rc-client up
in_ns "$CLIENT_NS" ip link set lo up
in_ns "$CLIENT_NS" ip addr add "$CLIENT_IP/24" dev eth0
in_ns "$CLIENT_NS" ip addr add "$CLIENT_IP2/24" dev eth0
in_ns "$CLIENT_NS" ip -6 addr add "$CLIENT_IP6/64" dev eth0 nodad
in_ns "$CLIENT_NS" ip link set eth0 up
in_ns "$CLIENT_NS" ip route add default via "$EDGE_CLIENT_SIDE_IP"
# The node routes between its pods' bridge and the outside; bridged pod traffic goes through
# iptables (kube-proxy's Service rules for pod -> Service -> pod on the same bridge).
in_ns "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1
in_ns "$NODE_NS" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null \
  || echo "cluster up: warning: net.bridge.bridge-nf-call-iptables not settable" >&2

# --- PKI: one CA; the API server's serving cert; its client cert for the kubelet ------------------
PKI=$STATE/pki
openssl_q() { openssl "$@" 2>/dev/null; }
openssl_q req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 2 -subj "/CN=realip-test-ca"
cat > "$PKI/apiserver.ext" <<EOF
subjectAltName=IP:$NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOF
openssl_q req -newkey rsa:2048 -nodes -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.csr" -subj "/CN=kube-apiserver"
openssl_q x509 -req -in "$PKI/apiserver.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 -extfile "$PKI/apiserver.ext" -out "$PKI/apiserver.crt"
echo "extendedKeyUsage=clientAuth" > "$PKI/client.ext"
openssl_q req -newkey rsa:2048 -nodes -keyout "$PKI/kubelet-client.key" -out "$PKI/kubelet-client.csr" -subj "/O=system:masters/CN=kube-apiserver-kubelet-client"
openssl_q x509 -req -in "$PKI/kubelet-client.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 -extfile "$PKI/client.ext" -out "$PKI/kubelet-client.crt"
openssl_q genrsa -out "$PKI/sa.key" 2048
openssl_q rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
# Static tokens: the real identities of each component (RBAC's bootstrap roles and the Node
# authorizer apply to them as in any cluster).
tok() { openssl rand -hex 24; }
ADMIN_TOKEN=$(tok); KCM_TOKEN=$(tok); SCHED_TOKEN=$(tok); KUBELET_TOKEN=$(tok); PROXY_TOKEN=$(tok)
cat > "$PKI/tokens.csv" <<EOF
$ADMIN_TOKEN,realip-admin,uid-admin,"system:masters"
$KCM_TOKEN,system:kube-controller-manager,uid-kcm
$SCHED_TOKEN,system:kube-scheduler,uid-sched
$KUBELET_TOKEN,system:node:$NODE_NAME,uid-kubelet,"system:nodes"
$PROXY_TOKEN,system:kube-proxy,uid-proxy
EOF
chmod 600 "$PKI/tokens.csv"
SERVER="https://$NODE_IP:$APISERVER_PORT"
kubeconfig() { # name token
  cat > "$STATE/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: realip-test
  cluster:
    server: $SERVER
    certificate-authority-data: $(base64 -w0 < "$PKI/ca.crt")
users:
- name: $1
  user:
    token: $2
contexts:
- name: $1
  context: {cluster: realip-test, user: $1}
current-context: $1
EOF
  chmod 600 "$STATE/$1.kubeconfig"
}
kubeconfig admin "$ADMIN_TOKEN"; kubeconfig controller-manager "$KCM_TOKEN"; kubeconfig scheduler "$SCHED_TOKEN"
kubeconfig kubelet "$KUBELET_TOKEN"; kubeconfig kube-proxy "$PROXY_TOKEN"

# --- processes --------------------------------------------------------------------------------------
# nsenter, not `ip netns exec`: that remounts /sys, and the kubelet and runc need the real cgroup
# mounts. setsid: a Ctrl-C of the test runner must not kill the node before down.sh runs.
launch() { # name cmd...
  local name=$1; shift
  (
    echo "$BASHPID" > "$TRACK_CGROUP/cgroup.procs"
    exec setsid nsenter --net="/run/netns/$NODE_NS" "$@" > "$STATE/logs/$name.log" 2>&1 < /dev/null
  ) &
  echo $! > "$STATE/pids/$name"
  disown $!   # no "Killed" job notices when down.sh stops it
}
wait_for() { # what name timeout-seconds cmd...
  local what=$1 name=$2 timeout=$3; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$STATE/pids/$name")" 2>/dev/null; then
      tail -n 30 "$STATE/logs/$name.log" >&2
      fail "$name exited before $what"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      tail -n 30 "$STATE/logs/$name.log" >&2
      fail "timed out after ${timeout}s waiting for $what"
    fi
    sleep 0.3
  done
}
in_node() { nsenter --net="/run/netns/$NODE_NS" "$@"; }
KUBECTL=("$NODE_BIN/kubectl" --kubeconfig "$STATE/admin.kubeconfig")

launch etcd "$CP_BIN/etcd" --data-dir="$STATE/etcd" \
  --listen-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380

# containerd and the image import do not need the API server: in parallel with it.
cat > "$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$STATE/containerd/containerd.sock"
[ttrpc]
  address = "$STATE/containerd/containerd-ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/realip-test/pause:1"
  # No CAP_SYS_RESOURCE here: the kubelet's oomScoreAdj -998 for sandboxes would make runc fail
  # ("can't get final child's PID from pipe: EOF"); clamp it to what we may set.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
cat > "$STATE/cni/net.d/10-realip-bridge.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "realip-pods",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$STATE/cni/ipam",
                "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
                "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
launch containerd containerd --config "$STATE/containerd/config.toml"
CTR=(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io)
wait_for "etcd health" etcd 30 in_node curl -sf http://127.0.0.1:2379/health

launch kube-apiserver "$CP_BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --kubelet-preferred-address-types=InternalIP \
  --kubelet-client-certificate="$PKI/kubelet-client.crt" --kubelet-client-key="$PKI/kubelet-client.key" \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --token-auth-file="$PKI/tokens.csv" \
  --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction,PodSecurity \
  --allow-privileged=true --profiling=false -v=1

wait_for "containerd" containerd 30 "${CTR[@]}" version
# The import runs while the API server starts (in the tracking cgroup: a failure kills it too).
(
  echo "$BASHPID" > "$TRACK_CGROUP/cgroup.procs"
  t0=$(date +%s)
  for a in pause sidecar webhook apps grpc-app; do
    "${CTR[@]}" images import --no-unpack "$ARCHIVES/$a.tar" >/dev/null || { echo "ctr import of $a.tar failed" >&2; exit 1; }
  done
  echo "cluster up: images imported in $(( $(date +%s) - t0 ))s" >&2
) > "$STATE/logs/image-import.log" 2>&1 &
import_pid=$!

wait_for "kube-apiserver /readyz" kube-apiserver 120 in_node "${KUBECTL[@]}" get --raw /readyz

launch kube-controller-manager "$NODE_BIN/kube-controller-manager" \
  --kubeconfig="$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --service-cluster-ip-range="$SERVICE_CIDR" --cluster-name=realip-test -v=1
launch kube-scheduler "$NODE_BIN/kube-scheduler" \
  --kubeconfig="$STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false -v=1

cp /etc/resolv.conf "$STATE/kubelet/resolv.conf" 2>/dev/null || echo "nameserver 127.0.0.1" > "$STATE/kubelet/resolv.conf"
cat > "$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This VM: cgroup v1 (hybrid), no systemd as PID 1, swap possibly on.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
podLogsDir: $STATE/pod-logs
resolvConf: $STATE/kubelet/resolv.conf
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
serializeImagePulls: false
# A small shared disk: do not evict or garbage-collect images because of other work on it.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 40
# Sync fast: the tests wait on status changes.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
EOF
wait "$import_pid" || { cat "$STATE/logs/image-import.log" >&2; fail "image import failed"; }
cat "$STATE/logs/image-import.log" >&2
launch kubelet "$NODE_BIN/kubelet" ${FAULT_KUBELET:+--no-such-flag-injected-fault} \
  --config="$STATE/kubelet/config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
  --root-dir="$STATE/kubelet/root" --cert-dir="$STATE/kubelet/pki" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" -v=1
cat > "$STATE/proxy/config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
# No CAP_SYS_RESOURCE/sysctl write rights on the host's conntrack table: leave it as it is.
conntrack: {maxPerCore: 0, min: 0}
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
EOF
launch kube-proxy "$NODE_BIN/kube-proxy" --config="$STATE/proxy/config.yaml" -v=1

wait_for "node $NODE_NAME Ready" kubelet 120 \
  in_node "${KUBECTL[@]}" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
wait_for "the default ServiceAccount" kube-controller-manager 60 \
  in_node "${KUBECTL[@]}" get serviceaccount default -n default
wait_for "kube-proxy healthz" kube-proxy 60 in_node curl -sf http://127.0.0.1:10256/healthz

cat > "$STATE/cluster.env" <<EOF
KUBECONFIG=$STATE/admin.kubeconfig
KUBECTL=$NODE_BIN/kubectl
HELM=$CP_BIN/helm
NODE_NS=$NODE_NS
EDGE_NS=$EDGE_NS
CLIENT_NS=$CLIENT_NS
NODE_IP=$NODE_IP
EDGE_NODE_SIDE_IP=$EDGE_NODE_SIDE_IP
EDGE_CLIENT_SIDE_IP=$EDGE_CLIENT_SIDE_IP
CLIENT_IP=$CLIENT_IP
CLIENT_IP2=$CLIENT_IP2
CLIENT_IP6=$CLIENT_IP6
EDGE_CLIENT_SIDE_IP6=$EDGE_CLIENT_SIDE_IP6
POD_CIDR=$POD_CIDR
POD_GATEWAY=$POD_GATEWAY
EOF
echo "cluster up: ready in $(( $(date +%s) - t_start ))s" >&2
echo "$STATE/admin.kubeconfig"
