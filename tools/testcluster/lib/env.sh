# Sourced by scripts/testcluster-*.sh and tools/testcluster/lib/*.sh: paths and settings of
# the local Kubernetes test cluster. Every one can be overridden from the environment.
# shellcheck shell=bash disable=SC2034

TC_MODULE_DIR=${TC_MODULE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TC_REPO_DIR=${TC_REPO_DIR:-$(cd "$TC_MODULE_DIR/../.." && pwd)}

# Cached across clones and runs (never inside the clone). $CACHE is the project's cache dir
# (GNUmakefile, scripts/install-deps.sh).
TESTCLUSTER_CACHE_DIR=${TESTCLUSTER_CACHE_DIR:-${CACHE:-/var/cache/nalabo}/k8s}
TESTCLUSTER_BIN_DIR=${TESTCLUSTER_BIN_DIR:-$TESTCLUSTER_CACHE_DIR/bin}
# The admin kubeconfig that tests read.
TESTCLUSTER_KUBECONFIG=${TESTCLUSTER_KUBECONFIG:-$TESTCLUSTER_CACHE_DIR/kubeconfig}
# Certificates, configs, logs, pids, kubelet and containerd state: removed by testcluster-down.
TESTCLUSTER_STATE_DIR=${TESTCLUSTER_STATE_DIR:-/var/lib/nalabo-testcluster}
# containerd's runtime state (socket, shims, mounts) and etcd's data: tmpfs.
TESTCLUSTER_RUN_DIR=${TESTCLUSTER_RUN_DIR:-/run/nalabo-testcluster}
TESTCLUSTER_ETCD_DIR=${TESTCLUSTER_ETCD_DIR:-/dev/shm/nalabo-testcluster-etcd}

TC_K8S_VERSION=v1.34.4   # also the vCluster control plane (tools/vcluster/lib/env.sh)
TC_NODE_NAME=${TESTCLUSTER_NODE_NAME:-nalabo-node}
# The node's address: a documentation-range (TEST-NET-2) /32 on an interface of its own
# (a port-less bridge: this kernel has no dummy interfaces), so that nothing is ever sent to
# a real network. Not TEST-NET-1 192.0.2.x: this kind of machine's eth0 lives there.
TC_NODE_IP=${TESTCLUSTER_NODE_IP:-198.51.100.2}
TC_NODE_IFACE=${TESTCLUSTER_NODE_IFACE:-nalabo-k8s0}
TC_POD_CIDR=${TESTCLUSTER_POD_CIDR:-10.88.0.0/16}
TC_SERVICE_CIDR=10.96.0.0/12
TC_KUBERNETES_SVC_IP=10.96.0.1
TC_APISERVER_PORT=${TESTCLUSTER_APISERVER_PORT:-6443}
TC_ETCD_CLIENT_PORT=${TESTCLUSTER_ETCD_CLIENT_PORT:-23790}
TC_ETCD_PEER_PORT=${TESTCLUSTER_ETCD_PEER_PORT:-23800}
TC_CNI_BRIDGE=${TESTCLUSTER_CNI_BRIDGE:-cni0}
TC_CNI_BIN_DIR=/usr/lib/cni
# containerd's registry config_path: <host:port>/hosts.toml (+ ca.crt) per registry, read
# per pull (no restart). Tests with a private registry write into it
# (internal/acctest/testregistry); not removed by down (the tests remove their entries).
TC_REGISTRY_CONFIG_DIR=${TC_REGISTRY_CONFIG_DIR:-/etc/nalabo-testcluster/certs.d}
TC_CONTAINERD_SOCK=$TESTCLUSTER_RUN_DIR/containerd/containerd.sock
TC_CONTAINERD_ROOT=$TESTCLUSTER_STATE_DIR/containerd/root
TC_CONTAINERD_STATE=$TESTCLUSTER_RUN_DIR/containerd/state
TC_KUBELET_DIR=$TESTCLUSTER_STATE_DIR/kubelet
TC_PKI=$TESTCLUSTER_STATE_DIR/pki
TC_LOGS=$TESTCLUSTER_STATE_DIR/logs
TC_PIDS=$TESTCLUSTER_STATE_DIR/pids

# Images built here and imported into the cluster's containerd (pods use
# imagePullPolicy: Never or IfNotPresent; nothing is ever pulled).
TC_PAUSE_IMAGE=${TESTCLUSTER_PAUSE_IMAGE:-nalabo-test/pause:1}
TC_BUSYBOX_IMAGE=${TESTCLUSTER_BUSYBOX_IMAGE:-nalabo-test/busybox:1}
TC_WORKSPACE_IMAGE=${TESTCLUSTER_WORKSPACE_IMAGE:-nalabo-test/k8s-workspace:1}
TC_HTTPD_IMAGE=${TESTCLUSTER_HTTPD_IMAGE:-nalabo-test/httpd:1}

# Binaries built by tools/testcluster/lib/build.sh.
TC_BINARIES="etcd pause kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kube-network-policies"
# The NetworkPolicy enforcer: kube-network-policies (tools/testcluster/cmd, same module and
# bin dir); its nfqueue number and the iptables chain that feeds that queue
# (this kernel has no nft `queue` expression: CONFIG_NFT_QUEUE is off).
TC_NETPOL_QUEUE=${TESTCLUSTER_NETPOL_QUEUE:-100}
TC_NETPOL_CHAIN=NALABO-K8S-NETPOL

tc_log() { printf '[testcluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
tc_die() { tc_log "ERROR: $*"; exit 1; }
# tc_now: seconds since the epoch with decimals, for timings.
tc_now() { date +%s.%N; }
tc_since() { awk -v a="$1" -v b="$(tc_now)" 'BEGIN{printf "%.1f", b-a}'; }

# Processes started by testcluster-up: $TC_PIDS/NAME.pid holds "PID EXECUTABLE".
# tc_pid NAME prints the pid when that process still runs that executable.
tc_pid() {
  local f=$TC_PIDS/$1.pid pid exe
  [ -s "$f" ] || return 1
  read -r pid exe < "$f" || return 1
  local cur
  cur=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  # A rebuilt binary shows as "PATH (deleted)" while the old process runs.
  [ "${cur% (deleted)}" = "$exe" ] || return 1
  echo "$pid"
}
# tc_gone PID: the process has exited (a zombie counts: PID 1 here may reap it late).
tc_gone() {
  local _pid _comm st
  read -r _pid _comm st _ 2>/dev/null < "/proc/$1/stat" || return 0
  [ "$st" = Z ]
}
# tc_stop NAME [SECONDS]: SIGTERM, wait, then SIGKILL; removes the pid file.
tc_stop() {
  local name=$1 secs=${2:-10} pid i
  if pid=$(tc_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
      tc_gone "$pid" && break
      sleep 0.1
    done
    if ! tc_gone "$pid"; then
      tc_log "$name did not stop in ${secs}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do tc_gone "$pid" && break; sleep 0.1; done
    fi
  fi
  rm -f "$TC_PIDS/$name.pid"
}
tc_kubectl() { "$TESTCLUSTER_BIN_DIR/kubectl" --kubeconfig "$TC_PKI/admin.kubeconfig" "$@"; }
# tc_ctr ARGS: ctr against the cluster's containerd, namespace k8s.io.
tc_ctr() { ctr -a "$TC_CONTAINERD_SOCK" -n k8s.io "$@"; }
