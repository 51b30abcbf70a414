#!/usr/bin/env bash
# Starts a swarm of swarm-mode dockerds for the Swarm backend's tests; idempotent (a
# second run while it is up only loads missing test images and prints the addresses).
#
# The shared dockerd (/var/run/docker.sock) is never touched: other tests use it and it must
# not become a manager. Each node here lives apart:
#   - its own network namespace (nalabo-swarm1, nalabo-swarm2), so its iptables rules,
#     docker_gwbridge and overlay sandboxes are that namespace's, not the host's; the two
#     namespaces are joined by one veth pair (203.0.113.194/29 and .195, TEST-NET-3):
#     Swarm's control, gossip and VXLAN traffic flows there; nothing is routed to or from
#     the host;
#   - its own UTS namespace (hostname nalabo-swarm-<n>, so the nodes differ by name);
#   - its own --data-root, --exec-root (and so its own containerd), --pidfile, cgroup
#     parent, and a unix socket unix:///run/nalabo-swarm[<n>]/docker.sock, reachable from
#     the host (sockets are files).
# Node 1 runs `swarm init --advertise-addr 203.0.113.194`; with SWARM_NODES=2 node 2 joins
# as a worker labelled nalabo-node=2 (node 1 is labelled nalabo-node=1). The test images
# are copied into each with `docker save | docker load` (no registry here).
#
# Tests find it through NALABO_SWARM_HOST (and NALABO_SWARM_NODE2_HOST with two nodes);
# this script prints the lines. Stop and remove it with scripts/swarm-down.sh.
set -euo pipefail

SWARM_NODES=${SWARM_NODES:-1}
SWARM_IMAGES=${SWARM_IMAGES:-nalabo-test/shell:1 nalabo-test/shell:2 nalabo-test/healthy:1 nalabo-test/httpd:1}
CACHE=${CACHE:-/var/cache/nalabo}

log() { printf '[swarm-up %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "$*" >&2; exit 1; }

# Per node n: netns, address, run dir, data dir, socket.
netns() { echo "nalabo-swarm$1"; }
addr() { echo "203.0.113.$((193 + $1))"; }
rundir() { if [ "$1" = 1 ]; then echo /run/nalabo-swarm; else echo "/run/nalabo-swarm$1"; fi; }
datadir() { if [ "$1" = 1 ]; then echo /var/lib/nalabo-swarm; else echo "/var/lib/nalabo-swarm$1"; fi; }
host() { echo "unix://$(rundir "$1")/docker.sock"; }
sd() { local n=$1; shift; docker -H "$(host "$n")" "$@"; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, dockerd)"
case "$SWARM_NODES" in 1 | 2) ;; *) die "SWARM_NODES must be 1 or 2" ;; esac
mkdir -p "$CACHE"
exec 9>"$CACHE/.swarm.lock"
flock -w 300 9 || die "another swarm-up/down holds $CACHE/.swarm.lock"

# --- network namespaces and the veth between them ---------------------------------
for n in 1 2; do
  ns=$(netns "$n")
  ip netns list | grep -qw "^$ns" || ip netns add "$ns"
  ip -n "$ns" link set lo up
done
if ! ip -n "$(netns 1)" link show nlsw0 >/dev/null 2>&1; then
  ip -n "$(netns 1)" link add nlsw0 type veth peer name nlsw1 netns "$(netns 2)"
  ip -n "$(netns 1)" addr add "$(addr 1)/29" dev nlsw0
  ip -n "$(netns 2)" addr add "$(addr 2)/29" dev nlsw1
fi
ip -n "$(netns 1)" link set nlsw0 up
ip -n "$(netns 2)" link set nlsw1 up

# --- dockerds ---------------------------------------------------------------------
start_node() {
  local n=$1 run data dlog
  run=$(rundir "$n")
  data=$(datadir "$n")
  sd "$n" info >/dev/null 2>&1 && return 0
  mkdir -p "$run" "$data"
  dlog=$CACHE/swarm-dockerd$n.log
  log "starting the swarm dockerd of node $n in netns $(netns "$n") (log: $dlog)"
  rm -f "$run/docker.sock" "$run/docker.pid"
  # nsenter --net, not `ip netns exec` (which remounts /sys, hiding the cgroup mounts);
  # unshare --uts: a hostname of its own. setsid + nohup: the daemon outlives this
  # script; 9>&-: it must not keep the lock. --iptables stays on: its rules are written
  # in its own network namespace.
  # shellcheck disable=SC2016 # $1 and $@ are the inner shell's arguments
  setsid nohup nsenter --net="/run/netns/$(netns "$n")" unshare --uts sh -c '
    hostname "$1"; shift; exec dockerd "$@"' sh "nalabo-swarm-$n" \
    --host "$(host "$n")" \
    --data-root "$data" \
    --exec-root "$run/exec" \
    --pidfile "$run/docker.pid" \
    --cgroup-parent "/nalabo-swarm$n" \
    --bridge none \
    >>"$dlog" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 60); do
    sd "$n" info >/dev/null 2>&1 && return 0
    sleep 1
  done
  tail -n 30 "$dlog" >&2
  die "the swarm dockerd of node $n did not answer within 60 s"
}

load_images() {
  local n=$1 img
  for img in $SWARM_IMAGES; do
    sd "$n" image inspect "$img" >/dev/null 2>&1 && continue
    if docker image inspect "$img" >/dev/null 2>&1; then
      log "loading $img into node $n"
      docker save "$img" | sd "$n" load -q >/dev/null
    else
      log "skipping $img: not in the shared dockerd (scripts/build-test-images.sh builds it)"
    fi
  done
}

start_node 1
if [ "$(sd 1 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "swarm init --advertise-addr $(addr 1)"
  # The default address pool keeps Swarm's own overlays (ingress) off the ranges the
  # sessions' pools (10.216-10.218/16) and the host use.
  sd 1 swarm init --advertise-addr "$(addr 1)" --listen-addr "$(addr 1):2377" \
    --default-addr-pool 10.215.0.0/16 --default-addr-pool-mask-length 24 >/dev/null
fi
sd 1 node update --label-add nalabo-node=1 "$(sd 1 info --format '{{.Swarm.NodeID}}')" >/dev/null
load_images 1

if [ "$SWARM_NODES" = 2 ]; then
  start_node 2
  if [ "$(sd 2 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    log "node 2 joins as a worker"
    sd 2 swarm join --token "$(sd 1 swarm join-token -q worker)" \
      --advertise-addr "$(addr 2)" --listen-addr "$(addr 2):2377" "$(addr 1):2377" >/dev/null
  fi
  sd 1 node update --label-add nalabo-node=2 "$(sd 2 info --format '{{.Swarm.NodeID}}')" >/dev/null
  load_images 2
fi

log "ready: $(sd 1 version --format '{{.Server.Version}}'), nodes: $(sd 1 node ls --format '{{.Hostname}}={{.Status}}/{{.ManagerStatus}}' | tr '\n' ' ')"
echo "NALABO_SWARM_HOST=$(host 1)"
if [ "$SWARM_NODES" = 2 ]; then
  echo "NALABO_SWARM_NODE2_HOST=$(host 2)"
fi
