#!/usr/bin/env bash
# Stops the swarm-mode test dockerds of scripts/swarm-up.sh (one or two nodes) and
# removes their state and network namespaces; idempotent. Never touches the shared dockerd.
set -euo pipefail

CACHE=${CACHE:-/var/cache/nalabo}

log() { printf '[swarm-down %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
[ "$(id -u)" = 0 ] || { log "must run as root" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.swarm.lock"
flock -w 300 9 || { log "another swarm-up/down holds $CACHE/.swarm.lock" >&2; exit 1; }

stop_pidfile() { # only the processes whose pid files are ours: never a broad pkill
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 0
  log "stopping pid $pid ($f)"
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
}

# Workers first, then the manager.
for n in 2 1; do
  if [ "$n" = 1 ]; then run=/run/nalabo-swarm data=/var/lib/nalabo-swarm; else run=/run/nalabo-swarm$n data=/var/lib/nalabo-swarm$n; fi
  stop_pidfile "$run/docker.pid"
  stop_pidfile "$run/exec/containerd/containerd.pid"
  # Mounts left under its directories (overlay layers, netns files), then the directories.
  awk -v a="$data/" -v b="$run/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
    sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$data" "$run"
  ns=nalabo-swarm$n
  if ip netns list | grep -qw "^$ns"; then ip netns del "$ns"; fi
done
log "removed"
