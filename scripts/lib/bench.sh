# shellcheck shell=bash
# The benchmark scripts' common part (scripts/bench*.sh source it after `set -euo
# pipefail`, with BENCH_NAME set to their name for the log lines). It sets `here` (the
# repository), CACHE, TERRAFORM and the environment every benchmark runs Terraform
# with, and defines the helpers below. Nothing here runs a benchmark.

# shellcheck disable=SC2034 # used by the scripts that source this file
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="/usr/local/go/bin:$PATH"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
# A benchmark class is not an admission test: 200 sessions of 100m exceed 2 cores x 4.
export NALABO_DOCKER_OVERCOMMIT_CPU=${NALABO_DOCKER_OVERCOMMIT_CPU:-1000} NALABO_DOCKER_OVERCOMMIT_MEMORY=${NALABO_DOCKER_OVERCOMMIT_MEMORY:-1000}
export NALABO_KUBERNETES_OVERCOMMIT_CPU=${NALABO_KUBERNETES_OVERCOMMIT_CPU:-1000} NALABO_KUBERNETES_OVERCOMMIT_MEMORY=${NALABO_KUBERNETES_OVERCOMMIT_MEMORY:-1000}
CACHE=${CACHE:-/var/cache/nalabo}
TERRAFORM=${TERRAFORM:-$CACHE/bin/terraform}

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# bench_need BIN_DIR: the Terraform CLI and the provider binary in BIN_DIR are there.
bench_need() {
  [ -x "$TERRAFORM" ] || die "missing $TERRAFORM: run scripts/install-deps.sh"
  [ -x "$1/terraform-provider-nalabo" ] || die "missing $1/terraform-provider-nalabo: run make build"
}

# bench_workdir: a temporary directory `work` with the Terraform root module directory
# `class` and `logs` in it.
bench_workdir() {
  work=$(mktemp -d "/tmp/nalabo-$BENCH_NAME.XXXXXX")
  class="$work/class"
  mkdir -p "$class" "$work/logs"
}

# bench_tfrc FILE BIN_DIR: a Terraform CLI configuration that takes nalabo/nalabo from
# BIN_DIR (dev_overrides: no terraform init).
bench_tfrc() {
  cat >"$1" <<TFRC
provider_installation {
  dev_overrides {
    "nalabo/nalabo" = "$2"
  }
  direct {}
}
TFRC
}

tf() { "$TERRAFORM" -chdir="$class" "$@"; }

# bench_destroy_leftover PARALLELISM [ARGS...]: destroys what the class still holds
# (a benchmark that failed half-way), for the scripts' EXIT traps.
bench_destroy_leftover() {
  local par=$1
  shift
  if [ -f "$class/terraform.tfstate" ] && [ -n "$(tf state list 2>/dev/null)" ]; then
    log "cleanup: terraform destroy"
    tf destroy -auto-approve -parallelism="$par" -no-color "$@" >"$work/logs/cleanup-destroy.log" 2>&1 ||
      { log "cleanup destroy failed:"; tail -n 20 "$work/logs/cleanup-destroy.log" >&2; }
  fi
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# timed NAME CMD...: runs CMD with its output in $work/logs/NAME.log, prints the
# seconds it took.
timed() {
  local name=$1 t
  shift
  t=$(now)
  if ! "$@" >"$work/logs/$name.log" 2>&1; then
    log "$name failed; last lines of its output:"
    tail -n 40 "$work/logs/$name.log" >&2
    return 1
  fi
  elapsed "$t"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
# verdict A B GOAL: whether A/B is within GOAL.
verdict() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { print (b > 0 && a / b <= g) ? "within goal" : "ABOVE goal" }'; }
