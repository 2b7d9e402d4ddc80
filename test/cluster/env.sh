# Sourced by up.sh and down.sh: the names and fixed addresses of the test cluster (one per machine:
# the kubelet and containerd 1.6 use some fixed paths whatever their configured roots).
STATE=${REALIP_CLUSTER_DIR:-/var/lib/realip-cluster}
NODE_NS=realip-node       # the node: etcd, control plane, containerd, kubelet, kube-proxy, pods' bridge
EDGE_NS=realip-edge       # the edge load balancer (HAProxy, started by the tests)
CLIENT_NS=realip-client   # a client "on the internet"
NODE_NAME=realip-node
NODE_IP=10.250.0.2        # node <-> edge link
EDGE_NODE_SIDE_IP=10.250.0.1
EDGE_CLIENT_SIDE_IP=198.51.100.1   # documentation ranges (RFC 5737) for the internet side
CLIENT_IP=198.51.100.7
CLIENT_IP2=198.51.100.8
# IPv6 on the internet side only (documentation range, RFC 3849): the cluster is single-stack IPv4,
# and the edge carries an IPv6 client to it in a PROXY TCP6 header, as a BIG-IP does.
EDGE_CLIENT_SIDE_IP6=2001:db8:100::1
CLIENT_IP6=2001:db8:100::7
POD_CIDR=10.88.0.0/24
POD_GATEWAY=10.88.0.1     # cni0 on the node: kube-proxy's SNAT source for NodePort traffic to pods
SERVICE_CIDR=10.96.0.0/24
APISERVER_PORT=6443
# Our daemons (and the containerd shims they start) live in this pids cgroup: teardown kills by pid
# from it, never by process name.
TRACK_CGROUP=/sys/fs/cgroup/pids/realip-cluster
# Paths the kubelet/containerd/CNI use whatever they are told; removed on teardown if we created them.
FIXED_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /run/containerd /var/lib/cni)
