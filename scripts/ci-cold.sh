#!/usr/bin/env bash
# Times a cold `.ci/run`, phase by phase: a fresh clone of HEAD run with EMPTY caches in a
# scratch location, as on a new machine: the project's cache dir ($CACHE: Kubernetes and
# vCluster binaries, Terraform CLI, goreleaser), the Go build cache and the Go module cache
# (everything is downloaded again from the module proxy), and the locally built images
# (nalabo-test/*, removed from dockerd first). The running test cluster is stopped first
# (the cold run builds and starts its own, and stops it at the end). Debian packages stay
# installed (scripts/install-deps.sh then only checks them).
#
#   scripts/ci-cold.sh [--adopt] [--warm]
#     --adopt  afterwards, the scratch caches replace $CACHE (the machine's own Go caches
#              are never touched: the cold run uses its own GOCACHE/GOMODCACHE)
#     --warm   then run .ci/run a second time on the same clone and caches (the warm figure)
# Output: $SCRATCH/cold.log (and warm.log), and a table of the phases' start offsets.
# Takes the machine for 30-60 minutes: run nothing else meanwhile.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
CACHE=${CACHE:-/var/cache/nalabo}
adopt=0 warm=0
for a in "$@"; do
  case $a in
    --adopt) adopt=1 ;;
    --warm) warm=1 ;;
    *) echo "usage: $0 [--adopt] [--warm]" >&2; exit 2 ;;
  esac
done
SCRATCH=${SCRATCH:-/var/tmp/nalabo-cold-$(date -u +%Y%m%dT%H%M%S)}
mkdir -p "$SCRATCH"
log() { printf '[ci-cold %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

log "stopping the running test cluster (if any)"
CACHE=$CACHE bash "$here/scripts/testcluster-down.sh" >/dev/null 2>&1 || true
if docker info >/dev/null 2>&1; then
  mapfile -t imgs < <(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^nalabo-test/' || true)
  if [ ${#imgs[@]} -gt 0 ]; then
    log "removing ${#imgs[@]} locally built images (nalabo-test/*)"
    docker image rm -f "${imgs[@]}" >/dev/null
  fi
fi

log "fresh clone of $(git -C "$here" rev-parse --short HEAD) into $SCRATCH/repo; empty caches in $SCRATCH"
git clone -q "$here" "$SCRATCH/repo"
[ -d "$here/../shared" ] && ln -sfn "$(cd "$here/../shared" && pwd)" "$SCRATCH/shared"
export CACHE=$SCRATCH/cache GOCACHE=$SCRATCH/gocache GOMODCACHE=$SCRATCH/gomodcache
mkdir -p "$CACHE" "$GOCACHE" "$GOMODCACHE"

run() {
  local name=$1 t rc=0
  t=$(date +%s)
  log "$name run of .ci/run (log $SCRATCH/$name.log)"
  (cd "$SCRATCH/repo" && bash .ci/run) >"$SCRATCH/$name.log" 2>&1 || rc=$?
  log "$name run: rc=$rc in $(($(date +%s) - t)) s"
  echo "phases of the $name run (offset from the start, seconds):"
  grep -E '^=== \[|^\[test [0-9:]+ \+[0-9]+s\]' "$SCRATCH/$name.log" | sed 's/^/  /'
  sed -n '/^build times:/,/^=== /p' "$SCRATCH/$name.log"
  return $rc
}
rc=0
run cold || rc=$?
if [ $warm = 1 ]; then
  # Same clone and caches; .ci/run stopped the cluster at its end, so the warm run starts it
  # again from cached binaries.
  run warm || rc=$?
fi
du -sh "$CACHE" "$GOCACHE" "$GOMODCACHE" 2>/dev/null | sed 's/^/  size /'
if [ $adopt = 1 ]; then
  log "adopting $CACHE as ${CACHE_ORIG:=/var/cache/nalabo}"
  rm -rf "${CACHE_ORIG}.old" && mv "$CACHE_ORIG" "${CACHE_ORIG}.old" && mv "$CACHE" "$CACHE_ORIG" && rm -rf "${CACHE_ORIG}.old"
fi
exit $rc
