#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through bg and trap (not unreachable)
# The whole suite (`make test`), with the slow parts overlapped:
#   builds   the test cluster's binaries, then the cluster, then the vCluster harness (one
#            module graph, tools/testcluster: each package compiled once), and goreleaser
#            plus the provider mirror (niced), all in the background;
#   tests    phase "docker": every package, unit tests and the Docker acceptance tests,
#            started at once (no cluster needed);
#            phase "kubernetes": internal/backend/kubernetes and every test named
#            Kubernetes/K8s/VCluster in the other packages, once the cluster and the harness
#            are ready, with the local cluster's smoke tests (scripts/testcluster-smoke.sh);
#            phase "release": internal/mirrortest, once the mirror is built.
# The two test selections are exact complements (`-skip P` / `-run P`). In the docker phase,
# NALABO_K8S_KUBECONFIG points at a file that does not exist, so a test that needs the
# cluster but is not named for it fails loudly instead of skipping.
#
# Environment (all optional):
#   K8S=0 / VCLUSTER=0          no Kubernetes / no vCluster tests (they skip)
#   NALABO_K8S_KUBECONFIG=PATH  bring your own cluster (kind, k3d, a cloud cluster): no
#                               cluster build; vCluster tests use the chart's own images
#                               (a registry must be reachable), unless
#                               NALABO_VCLUSTER_IMAGES=local (import needs the local cluster)
#   TEST_P, TEST_PARALLEL       go test -p and -parallel (default 4 and 4)
#   TEST_TIMEOUT                per go test run (default 60m); TESTARGS: extra go test flags
#   TEST_LOG_DIR                full -v logs (default .tmp/test-logs)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="/usr/local/go/bin:$PATH" CHECKPOINT_DISABLE=1 CGO_ENABLED=0
export CACHE=${CACHE:-/var/cache/nalabo}
TERRAFORM=${TERRAFORM:-$CACHE/bin/terraform}
K8S=${K8S:-1}
VCLUSTER=${VCLUSTER:-$K8S}
TEST_P=${TEST_P:-4}
TEST_PARALLEL=${TEST_PARALLEL:-4}
TEST_TIMEOUT=${TEST_TIMEOUT:-60m}
read -r -a extra <<<"${TESTARGS:-}"
logs=${TEST_LOG_DIR:-$here/.tmp/test-logs}
rm -rf "$logs"
mkdir -p "$logs"
byo_kubeconfig=${NALABO_K8S_KUBECONFIG:-}
# Parenthesised: go test splits a -run/-skip pattern at top-level '|' and '/' (a leading
# (?i) would then apply to the first alternative only).
k8s_pattern='(?i)(kubernetes|k8s|vcluster)'
# Docker tests that need the engine to themselves: class admission counts every live
# session on the engine, so the docker phase's concurrent classes would move its figures.
# They run alone once the docker phase is over (phase "docker-serial").
serial_pattern='^TestAccAdmissionDocker$'
k8s_only_pkgs=(./internal/backend/kubernetes)
release_pkgs=(./internal/mirrortest)

t0=$(date +%s)
log() { printf '[test %s +%ss] %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - t0))" "$*"; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# bg NAME COMMAND...: runs COMMAND in the background, output to $logs/NAME.log, exit code to
# $logs/NAME.rc; its pid is stored in the variable pid_NAME.
bg() {
  local name=$1; shift
  ( set +e; "$@" >"$logs/$name.log" 2>&1; echo $? >"$logs/$name.rc" ) &
  printf -v "pid_${name//-/_}" '%s' "$!"
  pids+=("$!")
}
# await NAME: waits for a bg job; on failure prints its log's tail and returns 1.
await() {
  local name=$1 v="pid_${1//-/_}"
  wait "${!v}" 2>/dev/null || true
  local rc; rc=$(cat "$logs/$name.rc" 2>/dev/null || echo 1)
  if [ "$rc" != 0 ]; then
    log "$name FAILED (rc $rc, log $logs/$name.log):"
    tail -n 80 "$logs/$name.log"
    return 1
  fi
  log "$name done"
}

log "dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

# --- Background builds ----------------------------------------------------------------------
vc_env=$logs/vcluster.env
if [ "$K8S" = 1 ] && [ -z "$byo_kubeconfig" ]; then
  cluster_steps() {
    scripts/testcluster-up.sh || return 1
    if [ "$VCLUSTER" = 1 ]; then scripts/vcluster-harness.sh --env >"$vc_env" || return 1; fi
  }
  log "test cluster and vCluster harness: building/starting in the background (log $logs/cluster.log)"
  bg cluster cluster_steps
elif [ "$K8S" = 1 ] && [ "$VCLUSTER" = 1 ]; then
  export NALABO_VCLUSTER_IMAGES=${NALABO_VCLUSTER_IMAGES:-chart}
  log "your cluster ($byo_kubeconfig): vCluster harness settings (images: $NALABO_VCLUSTER_IMAGES)"
  byo_steps() { scripts/vcluster-harness.sh --env >"$vc_env"; }
  bg cluster byo_steps
fi
log "goreleaser and the provider mirror: building in the background (log $logs/mirror.log)"
bg mirror nice -n 15 scripts/release.sh mirror

# --- Test phases ------------------------------------------------------------------------------
export TF_ACC=1 TF_ACC_TERRAFORM_PATH=$TERRAFORM NALABO_DOCKER_TESTS=1 NALABO_BROWSER_TESTS=1
# The Swarm tests run on the two-node test swarm scripts/install-deps.sh started
# (scripts/swarm-up.sh), and fail instead of skipping when it is missing.
export NALABO_SWARM_TESTS=1 NALABO_SWARM_HOST=${NALABO_SWARM_HOST:-unix:///run/nalabo-swarm/docker.sock}
export NALABO_SWARM_NODE2_HOST=${NALABO_SWARM_NODE2_HOST:-unix:///run/nalabo-swarm2/docker.sock}
# Class admission counts every live session on the shared engine and cluster: the suite's
# concurrent tests (a class of 40 among them) would be refused on 2 cores with the default
# overcommit. The admission tests set their own figures.
export NALABO_DOCKER_OVERCOMMIT_CPU=${NALABO_DOCKER_OVERCOMMIT_CPU:-1000} NALABO_DOCKER_OVERCOMMIT_MEMORY=${NALABO_DOCKER_OVERCOMMIT_MEMORY:-1000}
export NALABO_KUBERNETES_OVERCOMMIT_CPU=${NALABO_KUBERNETES_OVERCOMMIT_CPU:-1000} NALABO_KUBERNETES_OVERCOMMIT_MEMORY=${NALABO_KUBERNETES_OVERCOMMIT_MEMORY:-1000}
gotest() { go test -count=1 -p "$TEST_P" -parallel "$TEST_PARALLEL" -timeout "$TEST_TIMEOUT" -v "${extra[@]}" "$@"; }

# summary NAME: package results, failures and the slowest tests of a phase's log.
summary() {
  local f=$logs/$1.log
  set +o pipefail # head closes the pipe early
  grep -E '^(ok|FAIL|---|panic:)' "$f" | grep -vE '^--- (PASS|SKIP)' || true
  echo "slowest tests of phase $1:"
  sed -nE 's/^--- PASS: ([^ ]+) \(([0-9.]+)s\)$/\2 \1/p' "$f" | sort -rn | head -n 8 | sed 's/^/  /'
  set -o pipefail
}

mapfile -t other_pkgs < <(go list ./... | grep -vxF -f <(go list "${k8s_only_pkgs[@]}" "${release_pkgs[@]}"))
phase_docker() {
  export NALABO_K8S_KUBECONFIG=$logs/kubeconfig-not-ready-in-the-docker-phase NALABO_VCLUSTER_TESTS=1
  gotest -skip "($k8s_pattern|$serial_pattern)" "${other_pkgs[@]}"
}
log "phase docker: unit tests and Docker acceptance tests (-skip '$k8s_pattern')"
bg phase-docker phase_docker

phase_kubernetes() {
  export NALABO_K8S_KUBECONFIG=${byo_kubeconfig:-$CACHE/k8s/kubeconfig}
  if [ "$VCLUSTER" = 1 ]; then
    local line
    while IFS= read -r line; do
      case $line in export\ NALABO_*=*) export "${line#export }" ;; esac
    done <"$vc_env"
    export NALABO_VCLUSTER_TESTS=1
  else
    unset NALABO_VCLUSTER_TESTS
  fi
  gotest "${k8s_only_pkgs[@]}" &
  local a=$! b=0 c=0 s=
  # The local test cluster's own checks (tools/testcluster/smoke: Pod Security, quota,
  # RBAC, exec, the Service CIDR routed nowhere), not on your own cluster.
  if [ -z "${byo_kubeconfig:-}" ]; then
    scripts/testcluster-smoke.sh &
    s=$!
  fi
  gotest -run "$k8s_pattern" "${other_pkgs[@]}" || b=$?
  if [ -n "$s" ]; then wait "$s" || c=$?; fi
  wait "$a" && [ "$b" = 0 ] && [ "$c" = 0 ]
}
rc=0
if [ "$K8S" = 1 ]; then
  if [ -n "${pid_cluster:-}" ]; then
    await cluster || rc=1
  fi
  if [ $rc = 0 ]; then
    log "phase kubernetes: ${k8s_only_pkgs[*]}, and -run '$k8s_pattern' in the other packages"
    bg phase-kubernetes phase_kubernetes
  fi
fi

await mirror || rc=1
if [ $rc = 0 ] || [ -s "$here/dist/terraform.tfrc" ]; then
  log "phase release: ${release_pkgs[*]}"
  NALABO_REQUIRE_MIRROR=1 gotest "${release_pkgs[@]}" >"$logs/phase-release.log" 2>&1 || rc=1
  summary phase-release
fi

await phase-docker || rc=1
summary phase-docker
log "phase docker-serial: -run '$serial_pattern' ./internal/provider (alone on the engine)"
(export NALABO_K8S_KUBECONFIG=$logs/kubeconfig-not-ready-in-the-docker-phase
  gotest -run "$serial_pattern" ./internal/provider) >"$logs/phase-docker-serial.log" 2>&1 || rc=1
summary phase-docker-serial
if [ -n "${pid_phase_kubernetes:-}" ]; then
  await phase-kubernetes || rc=1
  summary phase-kubernetes
fi
log "the whole suite: $([ $rc = 0 ] && echo PASS || echo FAIL) (logs in $logs)"
exit $rc
