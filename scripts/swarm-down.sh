#!/usr/bin/env bash
# Stops the swarm-mode test dockerd of scripts/swarm-up.sh and removes its state and
# network namespaces; idempotent. Never touches the shared dockerd.
set -euo pipefail

SWARM_DIR=${SWARM_DIR:-/run/nalabo-swarm}
SWARM_DATA=${SWARM_DATA:-/var/lib/nalabo-swarm}
SWARM_NETNS=${SWARM_NETNS:-nalabo-swarm1}
SWARM_NETNS2=${SWARM_NETNS2:-nalabo-swarm2}
CACHE=${CACHE:-/var/cache/nalabo}

log() { printf '[swarm-down %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
[ "$(id -u)" = 0 ] || { log "must run as root" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.swarm.lock"
flock -w 300 9 || { log "another swarm-up/down holds $CACHE/.swarm.lock" >&2; exit 1; }

# Only the daemon whose pid file is ours: never a broad pkill.
if [ -s "$SWARM_DIR/docker.pid" ]; then
  pid=$(cat "$SWARM_DIR/docker.pid")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping the swarm dockerd (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
fi
# Its containerd, if it outlived the daemon.
if [ -s "$SWARM_DIR/exec/containerd/containerd.pid" ]; then
  cpid=$(cat "$SWARM_DIR/exec/containerd/containerd.pid")
  kill "$cpid" 2>/dev/null || true
fi
for ns in "$SWARM_NETNS" "$SWARM_NETNS2"; do
  ip netns list | grep -qw "^$ns" && ip netns del "$ns"
done
# Mounts left under the data root (overlay layers, netns files) before removing it.
awk -v a="$SWARM_DATA/" -v b="$SWARM_DIR/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
  sort -r | while read -r m; do umount -l "$m" || true; done
rm -rf "$SWARM_DATA" "$SWARM_DIR"
log "removed"
