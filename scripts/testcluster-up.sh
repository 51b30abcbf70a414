#!/usr/bin/env bash
# Starts the local Kubernetes test cluster (v1.37.2, one node) and writes its admin
# kubeconfig; idempotent (a second run while it is up returns in about a second; on a running
# cluster with a component missing, e.g. the enforcer, it starts only what is missing).
#
#   etcd 3.7 (data on /dev/shm) -> kube-apiserver -> kube-controller-manager, kube-scheduler,
#   kube-proxy (iptables) and kubelet -> a containerd of its own (own config, root, state,
#   socket; never Docker's) with runc and Debian's CNI plugins (bridge + portmap + firewall)
#   -> kube-network-policies, the NetworkPolicy enforcer (the bridge CNI enforces none).
#
# Binaries are built from tools/testcluster (pinned module graph) into
# $TESTCLUSTER_BIN_DIR (default /var/cache/nalabo/k8s/bin) and cached there; workload images
# (pause, nalabo-test/k8s-workspace:1, nalabo-test/httpd:1) are built with docker, FROM
# scratch, and imported into the cluster's containerd. Nothing is pulled. Extra images to
# import: TESTCLUSTER_EXTRA_IMAGES="img:tag ..." (or scripts/testcluster-import-image.sh).
#
# Output: the kubeconfig path ($TESTCLUSTER_KUBECONFIG, default
# /var/cache/nalabo/k8s/kubeconfig). Logs: $TESTCLUSTER_STATE_DIR/logs. Stop and remove
# state with scripts/testcluster-down.sh. Settings: tools/testcluster/lib/env.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
lib=$here/tools/testcluster/lib
# shellcheck source=../tools/testcluster/lib/env.sh
. "$lib/env.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin:$PATH

[ "$(id -u)" = 0 ] || tc_die "must run as root"
t0=$(tc_now)
# One up or down at a time.
mkdir -p "$TESTCLUSTER_CACHE_DIR"
exec 9>"$TESTCLUSTER_CACHE_DIR/.testcluster.lock"
flock -w 900 9 || tc_die "another testcluster-up/down holds $TESTCLUSTER_CACHE_DIR/.testcluster.lock"
timings=()
phase() { timings+=("$1 $(tc_since "$2")s"); }

components="containerd etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kube-network-policies"

node_ready() {
  [ "$(tc_kubectl get node "$TC_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# --- Already up? ---------------------------------------------------------------------------
all_running=1
any_running=0
for c in $components; do
  if tc_pid "$c" >/dev/null; then any_running=1; else all_running=0; fi
done
if [ $all_running = 1 ] && [ -s "$TESTCLUSTER_KUBECONFIG" ] && node_ready; then
  tc_log "already up ($(tc_since "$t0") s)"
  echo "$TESTCLUSTER_KUBECONFIG"
  exit 0
fi
if [ $any_running = 0 ] && { [ -d "$TESTCLUSTER_STATE_DIR" ] || [ -d "$TESTCLUSTER_RUN_DIR" ]; }; then
  tc_log "stale state from an earlier run; cleaning it first"
  TESTCLUSTER_LOCKED=1 "$here/scripts/testcluster-down.sh"
fi

# --- Host packages ---------------------------------------------------------------------------
s=$(tc_now)
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x "$TC_CNI_BIN_DIR/bridge" ] && [ -x "$TC_CNI_BIN_DIR/firewall" ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v nft >/dev/null || need+=(nftables)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if ! command -v file >/dev/null; then
  need+=(file)
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
elif ! file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; then
  need+=(busybox-static)
fi
if [ ${#need[@]} -gt 0 ]; then
  tc_log "apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
phase packages "$s"

# --- Docker (for building the images) --------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || tc_die "docker is not installed (scripts/install-deps.sh installs it)"
  tc_log "starting dockerd (log: $TESTCLUSTER_CACHE_DIR/dockerd.log)"
  setsid nohup dockerd >>"$TESTCLUSTER_CACHE_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
  for ((i = 0; i < 60; i++)); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || tc_die "dockerd did not start"
fi

# --- Binaries and images -----------------------------------------------------------------------
s=$(tc_now)
"$lib/build.sh"
phase binaries "$s"
s=$(tc_now)
"$lib/images.sh" build
phase images-build "$s"

# --- Host setup --------------------------------------------------------------------------------
mkdir -p "$TESTCLUSTER_STATE_DIR" "$TESTCLUSTER_RUN_DIR" "$TC_LOGS" "$TC_PIDS" "$(dirname "$TESTCLUSTER_KUBECONFIG")"
chmod 700 "$TESTCLUSTER_STATE_DIR"
s=$(tc_now)
"$lib/certs.sh"
phase certs "$s"

# Sysctls that kubelet, kube-proxy or pod networking may change: saved once, restored by
# testcluster-down.
if [ ! -s "$TESTCLUSTER_STATE_DIR/sysctl.saved" ]; then
  for k in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward \
    net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables \
    net.bridge.bridge-nf-call-ip6tables; do
    v=$(sysctl -n "$k" 2>/dev/null) && echo "$k=$v"
  done > "$TESTCLUSTER_STATE_DIR/sysctl.saved"
fi
sysctl -qw net.ipv4.ip_forward=1
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  modprobe br_netfilter 2>/dev/null || true
fi
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || tc_log "warning: br_netfilter unavailable; service traffic between pods on the bridge may fail"

# The node's own address on an interface of its own.
if ! ip link show "$TC_NODE_IFACE" >/dev/null 2>&1; then
  if ip -o addr show | awk '{print $4}' | grep -qx "$TC_NODE_IP/[0-9]*"; then
    tc_die "node IP $TC_NODE_IP is already assigned on this machine; set TESTCLUSTER_NODE_IP"
  fi
  ip link add "$TC_NODE_IFACE" type dummy 2>/dev/null || ip link add "$TC_NODE_IFACE" type bridge
fi
ip addr replace "$TC_NODE_IP/32" dev "$TC_NODE_IFACE"
ip link set "$TC_NODE_IFACE" up
# The Service CIDR routes to the port-less node interface: kube-proxy DNATs a Service's
# address before routing, so a packet to a Service whose rules are not programmed yet (or
# to an unallocated ClusterIP) goes nowhere instead of out of the default route to a real
# host that happens to own that address (seen under load: a foreign "keryx" server answered).
ip route replace "$TC_SERVICE_CIDR" dev "$TC_NODE_IFACE"

# --- containerd ------------------------------------------------------------------------------------
s=$(tc_now)
cfg=$TESTCLUSTER_STATE_DIR/config
mkdir -p "$cfg/cni" "$TC_REGISTRY_CONFIG_DIR" "$TC_CONTAINERD_ROOT" "$TC_CONTAINERD_STATE" "$TESTCLUSTER_STATE_DIR/cni-ipam" "$TC_KUBELET_DIR"
cat > "$cfg/cni/10-nalabo-testcluster.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "nalabo-testcluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$TC_CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$TC_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$TESTCLUSTER_STATE_DIR/cni-ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall", "backend": "iptables"}
  ]
}
EOF
cat > "$cfg/containerd.toml" <<EOF
# The test cluster's own containerd (never Docker's): own root, state, socket.
version = 2
root = "$TC_CONTAINERD_ROOT"
state = "$TC_CONTAINERD_STATE"
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$TC_CONTAINERD_SOCK"
[ttrpc]
  address = "$TC_CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$TC_PAUSE_IMAGE"
  # Root here cannot lower oom_score_adj: without this every sandbox fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$TESTCLUSTER_RUN_DIR/runc"
  # Private registries of the tests: a hosts.toml (and CA) per host:port, read per pull.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$TC_REGISTRY_CONFIG_DIR"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$TC_CNI_BIN_DIR"
    conf_dir = "$cfg/cni"
    max_conf_num = 1
EOF

# start NAME CMD...: starts CMD in the background in its own session unless NAME runs.
start() {
  local name=$1; shift
  tc_pid "$name" >/dev/null && return 0
  local exe
  exe=$(readlink -f "$(command -v "$1")")
  setsid "$@" >>"$TC_LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo "$! $exe" > "$TC_PIDS/$name.pid"
}
# wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tc_die "timed out after ${secs}s waiting for $what (logs: $TC_LOGS)"
}
alive() { tc_pid "$1" >/dev/null || tc_die "$1 exited; last lines of $TC_LOGS/$1.log:
$(tail -n 20 "$TC_LOGS/$1.log" 2>/dev/null)"; }

start containerd containerd --config "$cfg/containerd.toml" --log-level warn
wait_for containerd 30 tc_ctr version
alive containerd
phase containerd "$s"

# Images are imported in the background while the control plane starts; the check pod
# below waits for them.
s_import=$(tc_now)
# shellcheck disable=SC2086
"$lib/images.sh" import "$TC_PAUSE_IMAGE" "$TC_WORKSPACE_IMAGE" "$TC_HTTPD_IMAGE" ${TESTCLUSTER_EXTRA_IMAGES:-} 9>&- &
import_pid=$!

# --- Control plane -----------------------------------------------------------------------------------
s=$(tc_now)
B=$TESTCLUSTER_BIN_DIR
P=$TC_PKI
etcd_url=http://127.0.0.1:$TC_ETCD_CLIENT_PORT
mkdir -p "$TESTCLUSTER_ETCD_DIR"
chmod 700 "$TESTCLUSTER_ETCD_DIR"
start etcd "$B/etcd" --name nalabo-testcluster --data-dir "$TESTCLUSTER_ETCD_DIR" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$TC_ETCD_PEER_PORT" \
  --initial-advertise-peer-urls "http://127.0.0.1:$TC_ETCD_PEER_PORT" \
  --initial-cluster "nalabo-testcluster=http://127.0.0.1:$TC_ETCD_PEER_PORT" \
  --listen-metrics-urls "" --unsafe-no-fsync --log-level warn
start kube-apiserver "$B/kube-apiserver" \
  --etcd-servers "$etcd_url" \
  --secure-port "$TC_APISERVER_PORT" --advertise-address "$TC_NODE_IP" \
  --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
  --client-ca-file "$P/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
  --service-cluster-ip-range "$TC_SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --allow-privileged=true \
  --kubelet-client-certificate "$P/apiserver-kubelet-client.crt" --kubelet-client-key "$P/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$P/ca.crt" \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --requestheader-client-ca-file "$P/ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$P/front-proxy-client.crt" --proxy-client-key-file "$P/front-proxy-client.key" \
  --profiling=false --v=0
wait_for etcd 30 curl -sf "$etcd_url/health"
alive etcd
phase etcd "$s"
s=$(tc_now)
apiserver=https://127.0.0.1:$TC_APISERVER_PORT
wait_for kube-apiserver 90 curl -sf --cacert "$P/ca.crt" --cert "$P/admin.crt" --key "$P/admin.key" "$apiserver/readyz"
alive kube-apiserver
install -m 600 "$P/admin.kubeconfig" "$TESTCLUSTER_KUBECONFIG"
phase kube-apiserver "$s"

s=$(tc_now)
controllers=namespace-controller,serviceaccount-controller,serviceaccount-token-controller
controllers+=,garbage-collector-controller,resourcequota-controller,root-ca-certificate-publisher-controller
controllers+=,clusterrole-aggregation-controller,deployment-controller,replicaset-controller
controllers+=,statefulset-controller,daemonset-controller,job-controller,cronjob-controller
controllers+=,ttl-after-finished-controller,endpoints-controller,endpointslice-controller
controllers+=,endpointslice-mirroring-controller,disruption-controller,pod-garbage-collector-controller
controllers+=,persistentvolume-binder-controller,persistentvolume-protection-controller
controllers+=,persistentvolumeclaim-protection-controller,ephemeral-volume-controller
controllers+=,service-cidr-controller,node-lifecycle-controller
start kube-controller-manager "$B/kube-controller-manager" \
  --kubeconfig "$P/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$P/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$P/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
  --cluster-signing-cert-file "$P/ca.crt" --cluster-signing-key-file "$P/ca.key" \
  --controllers "$controllers" --profiling=false --v=0
start kube-scheduler "$B/kube-scheduler" \
  --kubeconfig "$P/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$P/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$P/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=0
start kube-proxy "$B/kube-proxy" \
  --kubeconfig "$P/kube-proxy.kubeconfig" --proxy-mode iptables \
  --hostname-override "$TC_NODE_NAME" --cluster-cidr "$TC_POD_CIDR" \
  --nodeport-addresses primary \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=0

cat > "$cfg/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $TC_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $P/kubelet-server.crt
tlsPrivateKeyFile: $P/kubelet-server.key
containerRuntimeEndpoint: unix://$TC_CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
volumePluginDir: $TC_KUBELET_DIR/volume-plugins
podLogsDir: $TESTCLUSTER_STATE_DIR/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
serializeImagePulls: false
registerNode: true
maxPods: 250
EOF
start kubelet "$B/kubelet" --config "$cfg/kubelet.yaml" \
  --kubeconfig "$P/kubelet.kubeconfig" --root-dir "$TC_KUBELET_DIR" \
  --hostname-override "$TC_NODE_NAME" --node-ip "$TC_NODE_IP" --v=0
wait_for "node $TC_NODE_NAME Ready" 120 node_ready
for c in kube-controller-manager kube-scheduler kube-proxy kubelet; do alive "$c"; done
phase node-ready "$s"

# --- NetworkPolicy enforcer ---------------------------------------------------------------------------
# kube-network-policies v0.8.0 (what kind runs): new connections from or to pod IPs go to an
# nfqueue; the controller reads each first packet, evaluates the NetworkPolicies of its source
# pod (egress) and destination pod (ingress) and answers accept or drop. Upstream feeds the
# queue from an nftables `queue` rule; this kernel has no nft_queue (CONFIG_NFT_QUEUE off, no
# modules to load), so that rule fails (logged, retried, harmless) and an iptables chain with
# the xt NFQUEUE target does the same job: at POSTROUTING (after kube-proxy's DNAT, before the
# CNI's masquerade), skipping established flows and the host's root processes (kubelet probes,
# the apiserver), like upstream's rules. Fail open: --queue-bypass (packets pass while nothing
# listens on the queue) and the enforcer's --fail-open (a full queue or a packet it cannot
# parse passes), so a dead or stalled enforcer never cuts the cluster's traffic, which other
# tests share; a policy's verdict is always applied, and tests prove it with positive controls.
s=$(tc_now)
if [ ! -e /proc/net/netfilter/nfnetlink_queue ]; then
  modprobe nfnetlink_queue 2>/dev/null || true
  [ -e /proc/net/netfilter/nfnetlink_queue ] || tc_die "the kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE): no NetworkPolicy enforcement possible"
fi
ipt() { iptables -w -t mangle "$@"; }
ipt -N "$TC_NETPOL_CHAIN" 2>/dev/null || ipt -F "$TC_NETPOL_CHAIN"
ipt -A "$TC_NETPOL_CHAIN" -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
ipt -A "$TC_NETPOL_CHAIN" -m owner --uid-owner 0 -j RETURN
for dir in -s -d; do
  if ! ipt -A "$TC_NETPOL_CHAIN" "$dir" "$TC_POD_CIDR" -j NFQUEUE --queue-num "$TC_NETPOL_QUEUE" --queue-bypass 2>/dev/null; then
    modprobe xt_NFQUEUE 2>/dev/null || true
    ipt -A "$TC_NETPOL_CHAIN" "$dir" "$TC_POD_CIDR" -j NFQUEUE --queue-num "$TC_NETPOL_QUEUE" --queue-bypass ||
      tc_die "iptables NFQUEUE target unavailable (CONFIG_NETFILTER_XT_TARGET_NFQUEUE): no NetworkPolicy enforcement possible"
  fi
done
ipt -C POSTROUTING -j "$TC_NETPOL_CHAIN" 2>/dev/null || ipt -I POSTROUTING 1 -j "$TC_NETPOL_CHAIN"
# Its own identity, with upstream's ClusterRole (read pods, namespaces, nodes, policies; events).
tc_kubectl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:kube-network-policies"}
rules:
- apiGroups: [""]
  resources: [pods, namespaces, nodes]
  verbs: [list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:kube-network-policies"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:kube-network-policies"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:kube-network-policies"}
EOF
start kube-network-policies "$B/kube-network-policies" \
  --kubeconfig "$P/kube-network-policies.kubeconfig" --hostname-override "$TC_NODE_NAME" \
  --nfqueue-id "$TC_NETPOL_QUEUE" --netfilter-bug-1766-fix=false --fail-open \
  --metrics-bind-address 127.0.0.1:10265 --v=0
# Bound to its queue (a line for it in nfnetlink_queue) once its informers have synced.
wait_for "kube-network-policies on nfqueue $TC_NETPOL_QUEUE" 60 \
  awk -v q="$TC_NETPOL_QUEUE" '$1 == q {found = 1} END {exit !found}' /proc/net/netfilter/nfnetlink_queue
alive kube-network-policies
phase netpol "$s"

# --- A pod runs and exec works ----------------------------------------------------------------------
wait "$import_pid" || tc_die "importing the images failed"
phase images-import "$s_import"
s=$(tc_now)
ns=testcluster-check
tc_kubectl create namespace "$ns" --dry-run=client -o yaml | tc_kubectl apply -f - >/dev/null
wait_for "serviceaccount $ns/default" 60 tc_kubectl -n "$ns" get serviceaccount default
tc_kubectl -n "$ns" delete pod check --ignore-not-found --wait=true >/dev/null
tc_kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: check}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: $TC_WORKSPACE_IMAGE
    imagePullPolicy: Never
    command: ["sleep", "3600"]
    securityContext:
      allowPrivilegeEscalation: false
      runAsNonRoot: true
      capabilities: {drop: [ALL]}
      seccompProfile: {type: RuntimeDefault}
EOF
if ! tc_kubectl -n "$ns" wait pod/check --for=condition=Ready --timeout=90s >/dev/null; then
  tc_kubectl -n "$ns" describe pod check >&2 || true
  tc_die "the check pod did not become Ready"
fi
out=$(tc_kubectl -n "$ns" exec check -- cat /proc/1/cmdline | tr '\0' ' ')
[ "$out" = "sleep 3600 " ] || tc_die "kubectl exec returned '$out'"
tc_kubectl delete namespace "$ns" --wait=false >/dev/null
phase pod-exec "$s"

tc_log "up in $(tc_since "$t0") s: ${timings[*]}"
tc_log "kubeconfig: $TESTCLUSTER_KUBECONFIG (export KUBECONFIG=$TESTCLUSTER_KUBECONFIG)"
echo "$TESTCLUSTER_KUBECONFIG"
