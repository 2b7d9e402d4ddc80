#!/usr/bin/env bash
# Tears the test cluster down completely, whatever state it is in (also half started, also after a
# crashed test run): processes by pid (our tracking cgroup and the kubelet's pod cgroups), mounts,
# network namespaces (with them every iptables rule and link the cluster made), cgroups, the fixed
# paths the kubelet and containerd created, and the state directory. Idempotent; exits 0 unless
# something could not be removed, which it names.
set -uo pipefail
source "$(dirname "$0")/env.sh"
problems=()
# Called by a test run (REALIP_CLUSTER_OWNER set): never remove a cluster another live run owns.
# By hand (no owner given) it removes whatever is there.
if [ -n "${REALIP_CLUSTER_OWNER:-}" ] && [ -f "$STATE/owner" ]; then
  o=$(cat "$STATE/owner")
  if [ "$o" != "$REALIP_CLUSTER_OWNER" ] && kill -0 "$o" 2>/dev/null; then
    echo "cluster down: the test cluster in $STATE belongs to the live test run pid $o: not removed" >&2
    exit 1
  fi
fi
t0=$(date +%s%N)
step() { [ -n "${REALIP_CLUSTER_DEBUG:-}" ] && echo "cluster down: $(( ($(date +%s%N) - t0) / 1000000 )) ms: $*" >&2; return 0; }

cgroup_pids() { # all pids in a cgroup subtree (every controller hierarchy)
  local d
  for d in "$@"; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
}
pod_cgroups() { ls -d /sys/fs/cgroup/*/kubepods* 2>/dev/null; }

# 1. The node agents first (the kubelet would restart what we kill), gracefully, by recorded pid.
for name in kubelet kube-proxy kube-scheduler kube-controller-manager; do
  pid=$(cat "$STATE/pids/$name" 2>/dev/null) || continue
  kill -TERM "$pid" 2>/dev/null
done
for _ in $(seq 1 50); do
  alive=0
  for name in kubelet kube-proxy kube-scheduler kube-controller-manager; do
    pid=$(cat "$STATE/pids/$name" 2>/dev/null) || continue
    kill -0 "$pid" 2>/dev/null && alive=1
  done
  [ "$alive" = 0 ] && break
  sleep 0.1
done

step "Everything left"
# 2. Everything left: pods' processes, containerd and its shims, the control plane. TERM, then KILL.
# (Pods get no grace period here: the test that cared about graceful shutdown already ran.)
for sig in TERM KILL KILL KILL; do
  pids=$(cgroup_pids $(pod_cgroups) "$TRACK_CGROUP" | sort -u)
  [ -z "$pids" ] && break
  # shellcheck disable=SC2086
  kill -"$sig" $pids 2>/dev/null
  for _ in $(seq 1 10); do
    [ -z "$(cgroup_pids $(pod_cgroups) "$TRACK_CGROUP")" ] && break
    sleep 0.1
  done
done
left=$(cgroup_pids $(pod_cgroups) "$TRACK_CGROUP" | sort -u | tr '\n' ' ')
[ -n "$left" ] && problems+=("processes still alive: $left")

step "Mounts"
# 3. Mounts under our roots and the fixed paths (containers' rootfs, shm, projected volumes, netns).
mounts() {
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    m=$(printf '%b' "$m")
    case "$m" in
      "$STATE"/*|/var/lib/kubelet/*|/run/containerd/*|/run/netns/cni-*|/var/run/netns/cni-*) echo "$m" ;;
    esac
  done | sort -r -u
}
for _ in 1 2 3; do
  ms=$(mounts)
  [ -z "$ms" ] && break
  while read -r m; do umount -l "$m" 2>/dev/null || true; done <<< "$ms"
done
ms=$(mounts | tr '\n' ' ')
[ -n "$ms" ] && problems+=("mounts left: $ms")

step "Network"
# 4. Network namespaces: the pods' (cni-*, only when the cluster state says they are ours) and ours.
if [ -d "$STATE" ]; then
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-'); do
    ip netns delete "$ns" 2>/dev/null || problems+=("netns $ns")
  done
fi
for ns in "$NODE_NS" "$EDGE_NS" "$CLIENT_NS"; do
  if [ -e "/run/netns/$ns" ]; then ip netns delete "$ns" 2>/dev/null || problems+=("netns $ns"); fi
done

step "Cgroups"
# 5. Cgroups, deepest first (rmdir only succeeds on empty ones, which they now are).
for root in $(pod_cgroups) "$TRACK_CGROUP"; do
  [ -d "$root" ] || continue
  find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
  [ -d "$root" ] && problems+=("cgroup $root")
done

step "Fixed paths"
# 6. Fixed paths we created, then our state.
if [ -f "$STATE/created-paths" ]; then
  while read -r p; do
    [ -n "$p" ] && rm -rf "$p" 2>/dev/null
  done < "$STATE/created-paths"
fi
# Host-local IPAM and containerd may write here even when told otherwise; they are ours when the
# cluster ran (created-paths lists them then).
rm -rf "$STATE" 2>/dev/null || problems+=("state dir $STATE")
[ -e "$STATE" ] && problems+=("state dir $STATE")

step done
if [ "${#problems[@]}" -gt 0 ]; then
  echo "cluster down: could not remove: ${problems[*]}" >&2
  exit 1
fi
echo "cluster down: clean"
