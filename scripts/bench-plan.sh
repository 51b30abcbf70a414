#!/usr/bin/env bash
# make bench-plan: the re-plan curve of a Docker class. One class grows through
# BENCH_CURVE sizes (default "30 100 200"); at each size, after the apply:
#   plan #1   the first plan after the apply (it also claims the new sessions: one
#             volume create per new session, see adoptionRule)
#   plan #2   a second plan, nothing changed: the steady state of a re-plan
#   baseline  plan #2 again with BENCH_BASELINE_BIN's provider (optional: a directory
#             holding an older terraform-provider-nalabo, e.g. one built from main)
# with the Docker API calls of each command, counted by tools/dockercount (a proxy on
# a Unix socket the provider is pointed at). Then the class is destroyed.
#
# Environment: BENCH_CURVE ("30 100 200"), BENCH_PARALLELISM (terraform -parallelism,
# default 10, Terraform's own default), BENCH_IMAGE, BENCH_BASELINE_BIN, CACHE,
# TERRAFORM. Needs the provider binary in ./bin (make build).
set -euo pipefail

BENCH_NAME=bench-plan
# shellcheck source=scripts/lib/bench.sh
. "$(dirname "$0")/lib/bench.sh"
CURVE=${BENCH_CURVE:-30 100 200}
PAR=${BENCH_PARALLELISM:-10}
IMAGE=${BENCH_IMAGE:-nalabo-test/shell:1}
BASELINE=${BENCH_BASELINE_BIN:-}
bin="$here/bin"


bench_need "$bin"
[ -z "$BASELINE" ] || [ -x "$BASELINE/terraform-provider-nalabo" ] || die "missing $BASELINE/terraform-provider-nalabo"
docker image inspect "$IMAGE" >/dev/null 2>&1 || die "missing image $IMAGE: run scripts/build-test-images.sh"

bench_workdir
log "building tools/dockercount"
(cd "$here/tools" && go build -o "$work/dockercount" ./dockercount)
sock="$work/docker.sock"
"$work/dockercount" -listen "$sock" 2>"$work/logs/dockercount.log" &
proxy=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || die "dockercount did not start"

bench_tfrc "$work/current.tfrc" "$bin"
[ -z "$BASELINE" ] || bench_tfrc "$work/baseline.tfrc" "$BASELINE"
export TF_CLI_CONFIG_FILE="$work/current.tfrc"

cat >"$class/main.tf" <<EOF
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "n" { type = number }

provider "nalabo" {
  docker {
    host    = "unix://$sock"
    network = "nalabo-bench-plan"
  }
}

resource "nalabo_workshop_template" "bench" {
  name                = "bench-plan"
  infrastructure_type = "docker"
  workspace {
    image = "$IMAGE"
  }
  resources = { cpu = "100m", memory = "32Mi" }
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset([for i in range(var.n) : format("student-%03d", i)])
  template_id = nalabo_workshop_template.bench.id
  participant = each.key
  resources   = { cpu = "100m", memory = "32Mi" }
}
EOF

counts() { curl -s --unix-socket "$sock" http://proxy/_counts; }
last=30

cleanup() {
  local rc=$?
  if [ -f "$class/terraform.tfstate" ] && [ -n "$(TF_CLI_CONFIG_FILE="$work/current.tfrc" tf state list 2>/dev/null)" ]; then
    log "cleanup: terraform destroy"
    TF_CLI_CONFIG_FILE="$work/current.tfrc" tf destroy -auto-approve -parallelism=30 -var n="$last" -no-color >"$work/logs/cleanup-destroy.log" 2>&1 ||
      { log "cleanup destroy failed:"; tail -n 20 "$work/logs/cleanup-destroy.log" >&2; }
  fi
  kill "$proxy" 2>/dev/null || true
  wait "$proxy" 2>/dev/null || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# The engine serving /var/run/docker.sock (its CPU time shows what a plan costs it).
dockerd_pid=$(pgrep -x -a dockerd | awk '$0 !~ /--host/ { print $1; exit }')
ticks() { [ -n "$dockerd_pid" ] && awk '{ print $14 + $15 }' "/proc/$dockerd_pid/stat" || echo 0; }
hz=$(getconf CLK_TCK)

# plan NAME N: a timed plan that must report no changes; prints "seconds calls
# cpu" where cpu is the CPU seconds of terraform and the provider, then of dockerd.
plan() {
  local name=$1 n=$2 t rc s d0 d1
  counts >/dev/null
  d0=$(ticks)
  t=$(now)
  set +e
  /usr/bin/time -f '%U %S' -o "$work/logs/$name.cpu" "$TERRAFORM" -chdir="$class" plan -detailed-exitcode \
    -parallelism="$PAR" -var n="$n" -no-color >"$work/logs/$name.log" 2>&1
  rc=$?
  set -e
  s=$(elapsed "$t")
  d1=$(ticks)
  counts >"$work/logs/$name.counts"
  cpu=$(awk -v d=$((d1 - d0)) -v hz="$hz" 'NR == 1 { printf "%.1f+%.1f", $1 + $2, d / hz }' "$work/logs/$name.cpu")
  case $rc in
  0) ;;
  2) log "  $name is NOT empty:"; grep -E '^  # |Plan:' "$work/logs/$name.log" | head -n 10 >&2 ;;
  *) tail -n 40 "$work/logs/$name.log" >&2; die "$name failed" ;;
  esac
  echo "$s $(head -n1 "$work/logs/$name.counts" | awk '{ print $2 }') $cpu"
}

rows=()
for n in $CURVE; do
  log "apply: class of $n"
  last=$n
  counts >/dev/null
  t=$(now)
  tf apply -auto-approve -parallelism=30 -var n="$n" -no-color >"$work/logs/apply-$n.log" 2>&1 ||
    { tail -n 40 "$work/logs/apply-$n.log" >&2; die "apply of $n failed"; }
  counts >"$work/logs/apply-$n.counts"
  log "  apply $(elapsed "$t") s, $(head -n1 "$work/logs/apply-$n.counts" | awk '{ print $2 }') Docker API calls (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  sed -n 2,16p "$work/logs/apply-$n.counts" | sed 's/^/      /' >&2
  read -r p1 c1 u1 < <(plan "plan1-$n" "$n")
  log "  plan #1 $p1 s, $c1 Docker API calls, CPU s terraform+provider / dockerd $u1"
  read -r p2 c2 u2 < <(plan "plan2-$n" "$n")
  log "  plan #2 $p2 s, $c2 Docker API calls, CPU s $u2"
  sed -n 2,8p "$work/logs/plan2-$n.counts" | sed 's/^/      /' >&2
  pb=- cb=- ub=-
  if [ -n "$BASELINE" ]; then
    read -r pb cb ub < <(TF_CLI_CONFIG_FILE="$work/baseline.tfrc" plan "base-$n" "$n")
    log "  baseline plan $pb s, $cb Docker API calls, CPU s $ub"
    sed -n 2,8p "$work/logs/base-$n.counts" | sed 's/^/      /' >&2
  fi
  rows+=("$(printf '  %8s %9s %6s %9s %6s %10s %9s %6s %10s   %s' "$n" "$p1" "$c1" "$p2" "$c2" "$u2" "$pb" "$cb" "$ub" "$(cut -d' ' -f1-3 /proc/loadavg)")")
done

echo
echo "Re-plan curve, terraform plan -parallelism=$PAR: seconds, Docker API calls, CPU seconds (terraform+provider + dockerd)"
printf '  %8s %9s %6s %9s %6s %10s %9s %6s %10s   %s\n' sessions "plan#1 s" calls "plan#2 s" calls cpu "base s" calls cpu "load (1/5/15 min)"
printf '%s\n' "${rows[@]}"
echo
echo "plan #1 claims the sessions new since the last plan (a volume each); plan #2 is"
echo "the steady state; the baseline is plan #2 with $([ -n "$BASELINE" ] && echo "$BASELINE" || echo "no baseline provider")."
