#!/usr/bin/env bash
# Starts a second, swarm-mode dockerd for the Swarm backend's tests; idempotent (a second
# run while it is up only re-loads missing test images and prints the address).
#
# The shared dockerd (/var/run/docker.sock) is never touched: other tests use it and it must
# not become a swarm manager. This one lives apart:
#   - its own network namespace $SWARM_NETNS (default nalabo-swarm1), so its iptables
#     rules, docker_gwbridge and overlay sandboxes are that namespace's, not the host's;
#     the namespace holds one end of a veth pair (203.0.113.194/29, TEST-NET-3) whose other
#     end sits in the namespace $SWARM_NETNS2 (nalabo-swarm2, 203.0.113.195), ready for a
#     second node; nothing is routed to or from the host;
#   - its own --data-root, --exec-root (and so its own containerd), --pidfile, cgroup
#     parent, and a unix socket: unix://$SWARM_DIR/docker.sock (default
#     /run/nalabo-swarm/docker.sock), reachable from the host (sockets are files);
#   - `swarm init --advertise-addr 203.0.113.194`; the test images are copied in with
#     `docker save | docker load` (no registry here).
#
# Tests find it through NALABO_SWARM_HOST=unix:///run/nalabo-swarm/docker.sock (this
# script prints the line). Stop and remove it with scripts/swarm-down.sh.
set -euo pipefail

SWARM_DIR=${SWARM_DIR:-/run/nalabo-swarm}
SWARM_DATA=${SWARM_DATA:-/var/lib/nalabo-swarm}
SWARM_NETNS=${SWARM_NETNS:-nalabo-swarm1}
SWARM_NETNS2=${SWARM_NETNS2:-nalabo-swarm2}
SWARM_ADDR=${SWARM_ADDR:-203.0.113.194}
SWARM_ADDR2=${SWARM_ADDR2:-203.0.113.195}
SWARM_IMAGES=${SWARM_IMAGES:-nalabo-test/shell:1 nalabo-test/shell:2 nalabo-test/healthy:1 nalabo-test/httpd:1}
CACHE=${CACHE:-/var/cache/nalabo}
sock=$SWARM_DIR/docker.sock
host=unix://$sock

log() { printf '[swarm-up %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "$*" >&2; exit 1; }
sd() { docker -H "$host" "$@"; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, dockerd)"
mkdir -p "$SWARM_DIR" "$SWARM_DATA" "$CACHE"
exec 9>"$CACHE/.swarm.lock"
flock -w 300 9 || die "another swarm-up/down holds $CACHE/.swarm.lock"

# --- network namespaces and the veth between them ---------------------------------
for ns in "$SWARM_NETNS" "$SWARM_NETNS2"; do
  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
done
if ! ip -n "$SWARM_NETNS" link show nlsw0 >/dev/null 2>&1; then
  ip -n "$SWARM_NETNS" link add nlsw0 type veth peer name nlsw1 netns "$SWARM_NETNS2"
  ip -n "$SWARM_NETNS" addr add "$SWARM_ADDR/29" dev nlsw0
  ip -n "$SWARM_NETNS2" addr add "$SWARM_ADDR2/29" dev nlsw1
fi
ip -n "$SWARM_NETNS" link set nlsw0 up
ip -n "$SWARM_NETNS2" link set nlsw1 up

# --- dockerd ----------------------------------------------------------------------
if ! sd info >/dev/null 2>&1; then
  dlog=$CACHE/swarm-dockerd.log
  log "starting the swarm dockerd in netns $SWARM_NETNS (log: $dlog)"
  rm -f "$sock" "$SWARM_DIR/docker.pid"
  # setsid + nohup: the daemon outlives this script; 9>&-: it must not keep the lock.
  # --iptables stays on: its rules are written in its own network namespace.
  # nsenter --net, not `ip netns exec`: the latter remounts /sys, hiding the cgroup mounts.
  setsid nohup nsenter --net="/run/netns/$SWARM_NETNS" dockerd \
    --host "$host" \
    --data-root "$SWARM_DATA" \
    --exec-root "$SWARM_DIR/exec" \
    --pidfile "$SWARM_DIR/docker.pid" \
    --cgroup-parent /nalabo-swarm \
    --bridge none \
    --default-address-pool base=10.214.0.0/16,size=24 \
    >>"$dlog" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 60); do
    sd info >/dev/null 2>&1 && break
    sleep 1
  done
  sd info >/dev/null 2>&1 || { tail -n 30 "$dlog" >&2; die "the swarm dockerd did not answer within 60 s"; }
fi

# --- swarm ------------------------------------------------------------------------
state=$(sd info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" != active ]; then
  log "swarm init --advertise-addr $SWARM_ADDR"
  # The default address pool keeps Swarm's overlays (ingress included) off 10.0.0.0/8
  # ranges the host or the sessions' own pools (10.213/16) use.
  sd swarm init --advertise-addr "$SWARM_ADDR" --listen-addr "$SWARM_ADDR:2377" \
    --default-addr-pool 10.215.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
fi

# --- test images --------------------------------------------------------------------
for img in $SWARM_IMAGES; do
  if ! sd image inspect "$img" >/dev/null 2>&1; then
    if docker image inspect "$img" >/dev/null 2>&1; then
      log "loading $img"
      docker save "$img" | sd load -q >/dev/null
    else
      log "skipping $img: not in the shared dockerd (scripts/build-test-images.sh builds it)"
    fi
  fi
done

log "ready: $(sd version --format '{{.Server.Version}}'), node $(sd info --format '{{.Swarm.NodeID}}')"
echo "NALABO_SWARM_HOST=$host"
