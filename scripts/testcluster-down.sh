#!/usr/bin/env bash
# Stops the local Kubernetes test cluster started by scripts/testcluster-up.sh and removes
# its state (certificates, etcd data, containerd root and state, kubelet dir, logs, the
# kubeconfig). Keeps the cached binaries. Idempotent; touches only what the cluster made:
# Docker, its containerd, its containers and its iptables chains are left alone.
#
# Order: controller-manager and scheduler (nothing re-creates pods), pods (deleted through
# the API, so the kubelet tears their sandboxes and networks down), kubelet, apiserver
# BEFORE etcd (the apiserver hangs in shutdown otherwise), kube-proxy and
# kube-network-policies before it (clients), then
# `kube-proxy --cleanup`, leftover pod processes, this containerd's shims, containerd; then
# mounts, network namespaces, cni0, the node interface, CNI-*/KUBE-* chains, sysctls.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tools/testcluster/lib/env.sh
. "$here/tools/testcluster/lib/env.sh"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

[ "$(id -u)" = 0 ] || tc_die "must run as root"
t0=$(tc_now)
if [ "${TESTCLUSTER_LOCKED:-}" != 1 ]; then
  mkdir -p "$TESTCLUSTER_CACHE_DIR"
  exec 9>"$TESTCLUSTER_CACHE_DIR/.testcluster.lock"
  flock -w 900 9 || tc_die "another testcluster-up/down holds $TESTCLUSTER_CACHE_DIR/.testcluster.lock"
fi

# --- Pods ---------------------------------------------------------------------------------
tc_stop kube-controller-manager 10
tc_stop kube-scheduler 10
if tc_pid kube-apiserver >/dev/null && tc_pid kubelet >/dev/null && tc_pid containerd >/dev/null; then
  tc_kubectl delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
  # Wait (at most 30 s) until the kubelet has stopped every container and sandbox.
  for ((i = 0; i < 300; i++)); do
    running=$(tc_ctr tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING"' | wc -l)
    [ "$running" = 0 ] && break
    sleep 0.1
  done
  # Give the kubelet a moment to tear the sandboxes' networks down (CNI DEL).
  for ((i = 0; i < 50; i++)); do
    compgen -G '/var/run/netns/cni-*' >/dev/null || break
    sleep 0.1
  done
fi

# --- Node and control plane -----------------------------------------------------------------
tc_stop kubelet 15
# Every client goes before the apiserver: it waits (up to a minute) for open watches to end.
tc_stop kube-proxy 10
tc_stop kube-network-policies 10
tc_stop kube-apiserver 20
tc_stop etcd 10
if [ -x "$TESTCLUSTER_BIN_DIR/kube-proxy" ] && [ -d "$TESTCLUSTER_STATE_DIR" ]; then
  "$TESTCLUSTER_BIN_DIR/kube-proxy" --cleanup --v=0 >>"$TC_LOGS/kube-proxy-cleanup.log" 2>&1 || true
fi

# --- Leftover pod processes (cgroups made by this kubelet: /kubepods in each hierarchy) ---------
kill_cgroup_tree() {
  local root=$1
  [ -d "$root" ] || return 0
  local f
  for ((round = 0; round < 20; round++)); do
    local any=0
    while IFS= read -r f; do
      while read -r pid; do
        [ -n "$pid" ] && { kill -KILL "$pid" 2>/dev/null || true; any=1; }
      done < "$f"
    done < <(find "$root" -name cgroup.procs 2>/dev/null)
    [ $any = 0 ] && break
    sleep 0.1
  done
}
for h in /sys/fs/cgroup/*/; do
  [ -d "$h/kubepods" ] && kill_cgroup_tree "$h/kubepods"
done

# --- This containerd's shims, then containerd ---------------------------------------------------
# A shim of this containerd has "-address <this socket>" in its command line (Docker's have
# /var/run/docker/containerd/containerd.sock).
our_shims() {
  local pid
  for pid in $(pgrep -f -- 'containerd-shim' 2>/dev/null); do
    tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF -- "-address $TC_CONTAINERD_SOCK " && echo "$pid"
  done
}
for pid in $(our_shims); do kill -TERM "$pid" 2>/dev/null; done
tc_stop containerd 15
sleep 0.2
for pid in $(our_shims); do kill -KILL "$pid" 2>/dev/null; done
for h in /sys/fs/cgroup/*/; do
  [ -d "$h/kubepods" ] && find "$h/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done

# --- Mounts and network namespaces -------------------------------------------------------------
for d in "$TESTCLUSTER_RUN_DIR" "$TESTCLUSTER_STATE_DIR" "$TESTCLUSTER_ETCD_DIR"; do
  awk -v d="$d" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    m=$(printf '%b' "$m")
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
done
# Sandboxes' network namespaces (containerd's CRI names them cni-<uuid>; Docker keeps its
# own under /var/run/docker/netns).
for n in /var/run/netns/cni-*; do
  [ -e "$n" ] && { ip netns delete "${n##*/}" 2>/dev/null || true; }
done

# --- Links, iptables, sysctls ---------------------------------------------------------------------
ip link show "$TC_CNI_BRIDGE" >/dev/null 2>&1 && ip link delete "$TC_CNI_BRIDGE"
ip link show "$TC_NODE_IFACE" >/dev/null 2>&1 && ip link delete "$TC_NODE_IFACE"
# Every rule that jumps to a CNI-* or KUBE-* chain or the enforcer's queue chain
# ($TC_NETPOL_CHAIN), then those chains (iptables and ip6tables).
for ipt in iptables ip6tables; do
  command -v "$ipt-save" >/dev/null || continue
  for t in filter nat mangle raw; do
    dump=$("$ipt-save" -t "$t" 2>/dev/null) || continue
    echo "$dump" | grep -E "^-A [^ ]+ .*-j (CNI-|KUBE-|$TC_NETPOL_CHAIN)" | grep -vE "^-A (CNI-|KUBE-|$TC_NETPOL_CHAIN )" | while IFS= read -r rule; do
      eval "$ipt -w -t $t -D ${rule#-A }" 2>/dev/null || true
    done
    chains=$(echo "$dump" | awk -v n=":$TC_NETPOL_CHAIN" '/^:(CNI-|KUBE-)/ || $1 == n {print substr($1, 2)}')
    for c in $chains; do "$ipt" -w -t "$t" -F "$c" 2>/dev/null || true; done
    for c in $chains; do "$ipt" -w -t "$t" -X "$c" 2>/dev/null || true; done
  done
done
if [ -s "$TESTCLUSTER_STATE_DIR/sysctl.saved" ]; then
  while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null || true; done < "$TESTCLUSTER_STATE_DIR/sysctl.saved"
fi

# --- State ---------------------------------------------------------------------------------------------
# Keep the last run's logs for a post-mortem (CI prints them on failure).
if [ -d "$TC_LOGS" ]; then
  rm -rf "$TESTCLUSTER_CACHE_DIR/last-logs"
  cp -r "$TC_LOGS" "$TESTCLUSTER_CACHE_DIR/last-logs" 2>/dev/null || true
fi
rm -rf "$TESTCLUSTER_STATE_DIR" "$TESTCLUSTER_RUN_DIR" "$TESTCLUSTER_ETCD_DIR" "$TESTCLUSTER_KUBECONFIG"
tc_log "down in $(tc_since "$t0") s (binaries kept in $TESTCLUSTER_BIN_DIR)"
