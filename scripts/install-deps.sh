#!/usr/bin/env bash
# Installs what the tests, the docs and the demo need on a Debian 12 machine, as root.
# Idempotent: every step checks first and does nothing when it is already done.
#
#   1. Debian packages: docker.io, busybox-static, iproute2 (the egress tests' network
#      namespaces), chromium (the gateway's browser tests), shellcheck (make lint) (and
#      make, git when missing).
#      `apt-get update` runs only when something has to be installed.
#   2. dockerd: started in the background when `docker info` fails (log:
#      $CACHE/dockerd.log); waits up to 60 s for it to answer.
#   3. Terraform CLI v$TERRAFORM_VERSION built from the Go module proxy into
#      $CACHE/bin/terraform, only when that file is missing (about 3 minutes).
#   4. The offline test images (scripts/build-test-images.sh).
#   5. The swarm-mode test engines, two nodes (scripts/swarm-up.sh; NALABO_SKIP_SWARM=1
#      skips it, SWARM_NODES=1 starts one).
#
# CACHE defaults to /var/cache/nalabo (outside the clone, so it survives fresh clones).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/nalabo}
TERRAFORM_VERSION=${TERRAFORM_VERSION:-1.8.5}
export PATH="/usr/local/go/bin:$PATH"
export CHECKPOINT_DISABLE=1 # terraform version must not phone home

log() { printf '[install-deps %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
t_total=$(date +%s)
summary=()
step() { # step NAME START: records how long a step took
  local secs=$(($(date +%s) - $2))
  summary+=("$(printf '%-22s %4ss  %s' "$1" "$secs" "$3")")
}

mkdir -p "$CACHE/bin"
# One run at a time (make test and make demo may both call this script).
exec 9>"$CACHE/.install-deps.lock"
if ! flock -w 900 9; then
  log "another install-deps run holds $CACHE/.install-deps.lock for too long" >&2
  exit 1
fi

# --- 1. Debian packages ----------------------------------------------------------
t=$(date +%s)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  missing+=(docker.io)
fi
installed busybox-static || missing+=(busybox-static)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing packages ${missing[*]}: run this script as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when apt cannot find (or fetch) a package we need.
  log "apt-get install ${missing[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    log "apt-get update (package lists missing or stale)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  step packages "$t" "installed ${missing[*]}"
else
  step packages "$t" "docker.io, busybox-static, iproute2, chromium, shellcheck, make, git already installed"
fi

# --- 2. dockerd ------------------------------------------------------------------
t=$(date +%s)
if docker info >/dev/null 2>&1; then
  step dockerd "$t" "already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
else
  dlog="$CACHE/dockerd.log"
  log "starting dockerd in the background (log: $dlog)"
  # setsid + nohup: the daemon outlives this script and the shell that ran it.
  # 9>&-: the daemon must not inherit (and so keep) the lock above.
  setsid nohup dockerd >>"$dlog" 2>&1 </dev/null 9>&- &
  dpid=$!
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    log "dockerd did not answer within 60 s; last lines of $dlog:" >&2
    tail -n 30 "$dlog" >&2 || true
    exit 1
  fi
  step dockerd "$t" "started (pid $dpid, log $dlog)"
fi

# --- 3. Terraform CLI ------------------------------------------------------------
t=$(date +%s)
tf="$CACHE/bin/terraform"
if [ -x "$tf" ]; then
  step terraform "$t" "reused $tf ($("$tf" version 2>/dev/null | head -n1))"
else
  command -v go >/dev/null 2>&1 || { log "go is not on PATH (expected Go 1.26 at /usr/local/go)" >&2; exit 1; }
  log "building Terraform CLI v$TERRAFORM_VERSION into $CACHE/bin (go install, about 3 minutes)"
  # Versions after 1.8.x refuse `go install` (replace directives in their go.mod).
  GOBIN="$CACHE/bin" CGO_ENABLED=0 go install "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
  step terraform "$t" "built $tf ($("$tf" version 2>/dev/null | head -n1))"
fi

# --- 4. Test images --------------------------------------------------------------
t=$(date +%s)
log "building test images"
"$here/scripts/build-test-images.sh"
step images "$t" "nalabo-test/shell:1 nalabo-test/shell:2 nalabo-test/healthy:1"

# --- 5. Swarm test engine ---------------------------------------------------------
# A second, swarm-mode dockerd in its own network namespace for the Swarm backend's tests
# (the shared dockerd never becomes a manager). NALABO_SKIP_SWARM=1 skips it.
if [ "${NALABO_SKIP_SWARM:-}" != 1 ]; then
  t=$(date +%s)
  # 9>&-: the daemon it starts must not keep this script's lock.
  # Two nodes: TestAccSwarm_twoNodes runs exec through the worker's engine.
  SWARM_NODES=${SWARM_NODES:-2} "$here/scripts/swarm-up.sh" 9>&- >/dev/null
  step swarm "$t" "NALABO_SWARM_HOST=unix:///run/nalabo-swarm/docker.sock NALABO_SWARM_NODE2_HOST=unix:///run/nalabo-swarm2/docker.sock"
fi

log "done in $(($(date +%s) - t_total)) s"
printf '  %s\n' "${summary[@]}"
