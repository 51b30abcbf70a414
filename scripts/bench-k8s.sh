#!/usr/bin/env bash
# make bench-k8s: the Kubernetes case of the class benchmark. A class of N
# namespace-isolated sessions (workspace pod only) through the real Terraform CLI and the
# provider, next to tools/benchk8s, a Go program that creates the same objects directly
# with client-go (per participant: namespace, quota, limit range, 2 network policies,
# service account, role, role binding, token request, kubeconfig secret, workspace pod;
# all N at once, until every pod is Ready; then pods and namespaces deleted until gone).
#
# Each repetition runs, in this order:
#   direct            tools/benchk8s
#   terraform apply   -auto-approve -parallelism=N, whole command (template + N sessions)
#   terraform plan    refresh of the applied class (should report no changes)
#   terraform destroy -auto-approve -parallelism=N, whole command
# and prints the medians and the ratios provider/direct (goal: 1.15x at most).
#
# BENCH_PLAN_CURVE="30 100 200" measures instead the no-change plan (refresh) as the
# class grows: for each size, terraform apply adds the sessions, then BENCH_R plans are
# timed (median; goal at 200: 5 s). BENCH_PLAN_BASE_BIN (a directory holding another
# provider binary, e.g. the previous release) times its plan on the same class too.
# The test cluster's node has 2 CPUs: BENCH_K8S_CPU=40m keeps 200 pods' requests (5m
# each) within it.
#
# Environment: NALABO_K8S_KUBECONFIG (required; make testcluster writes
# /var/cache/nalabo/k8s/kubeconfig), BENCH_N (30), BENCH_R (3), BENCH_K8S_IMAGE
# (nalabo-test/k8s-workspace:1), BENCH_BIN (./bin: where the provider binary is),
# BENCH_K8S_CPU (200m: the session quota), BENCH_K8S_QPS / BENCH_K8S_BURST (100 / 200: the direct program's client-side rate
# limit, the same as the provider's backend uses), CACHE (/var/cache/nalabo), TERRAFORM.
set -euo pipefail

BENCH_NAME=bench-k8s
# shellcheck source=scripts/lib/bench.sh
. "$(dirname "$0")/lib/bench.sh"
N=${BENCH_N:-30}
R=${BENCH_R:-3}
IMAGE=${BENCH_K8S_IMAGE:-nalabo-test/k8s-workspace:1}
KUBECONFIG_PATH=${NALABO_K8S_KUBECONFIG:-}
bin=${BENCH_BIN:-$here/bin}
QPS=${BENCH_K8S_QPS:-100}
BURST=${BENCH_K8S_BURST:-200}
# Per session: the quota; the workspace pod requests 1/8 and is limited to 1/2 of it.
CPU=${BENCH_K8S_CPU:-200m}
MEMORY=256Mi
STORAGE=1Gi


[ -n "$KUBECONFIG_PATH" ] || die "NALABO_K8S_KUBECONFIG is not set (make testcluster writes $CACHE/k8s/kubeconfig)"
[ -s "$KUBECONFIG_PATH" ] || die "no kubeconfig at $KUBECONFIG_PATH: run make testcluster"
bench_need "$bin"
KUBECTL=${KUBECTL:-$(command -v kubectl || echo "$CACHE/k8s/bin/kubectl")}
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
kc --request-timeout=10s get --raw /readyz >/dev/null || die "the cluster of $KUBECONFIG_PATH is not ready"

bench_workdir

log "building tools/benchk8s"
(cd "$here/tools/benchk8s" && go build -o "$work/nalabo-benchk8s" .)

bench_tfrc "$work/dev-overrides.tfrc" "$bin"
export TF_CLI_CONFIG_FILE="$work/dev-overrides.tfrc"

# The direct program pulls nothing ahead: the image is on the node already (the
# pre-pull's own cost is TestPrePull's figure). Left out when an older binary (without
# the attribute) plans the same class.
pre_pull_line='  pre_pull = false'
[ -z "${BENCH_PLAN_BASE_BIN:-}" ] || pre_pull_line=''

cat >"$class/main.tf" <<EOF
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

provider "nalabo" {
  kubernetes {
    config_path = "$KUBECONFIG_PATH"
    namespace   = "nalabo-bench"
  }
}

resource "nalabo_workshop_template" "bench" {
  name                = "bench-k8s"
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "$IMAGE"
    command = ["sleep", "infinity"]
  }
  resources = { cpu = "$CPU", memory = "$MEMORY", storage = "$STORAGE" }
$pre_pull_line
}

variable "n" {
  type    = number
  default = $N
}

resource "nalabo_workshop_session" "student" {
  for_each    = toset([for i in range(var.n) : format("student-%03d", i)])
  template_id = nalabo_workshop_template.bench.id
  participant = each.key
}
EOF

# Whatever happens, the class is destroyed and the temp dir removed.
cleanup() {
  local rc=$?
  bench_destroy_leftover "$N"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# timed_plan NAME: a no-change plan of the class, its seconds (an error if it has changes).
timed_plan() {
  local t rc
  t=$(now)
  set +e
  tf plan -detailed-exitcode -parallelism=30 -no-color >"$work/logs/$1.log" 2>&1
  rc=$?
  set -e
  case $rc in
  0) elapsed "$t" ;;
  2) log "plan $1 is NOT empty:"; grep -E '^  # |Plan:' "$work/logs/$1.log" | head -n 10 >&2; return 1 ;;
  *) tail -n 40 "$work/logs/$1.log" >&2; return 1 ;;
  esac
}

if [ -n "${BENCH_PLAN_CURVE:-}" ]; then
  if [ -n "${BENCH_PLAN_BASE_BIN:-}" ]; then
    [ -x "$BENCH_PLAN_BASE_BIN/terraform-provider-nalabo" ] || die "no provider binary in $BENCH_PLAN_BASE_BIN"
    sed "s|\"$bin\"|\"$BENCH_PLAN_BASE_BIN\"|" "$work/dev-overrides.tfrc" >"$work/base.tfrc"
  fi
  rows=()
  for n in $BENCH_PLAN_CURVE; do
    echo "n = $n" >"$class/terraform.tfvars"
    log "plan curve: terraform apply to $n sessions (-parallelism=30)"
    a=$(timed "curve-apply-$n" tf apply -auto-approve -parallelism=30 -no-color) || die "terraform apply to $n sessions failed"
    log "  apply $a s"
    samples=()
    for r in $(seq 1 "$R"); do
      s=$(timed_plan "curve-plan-$n-$r") || die "terraform plan of $n sessions failed"
      samples+=("$s")
    done
    m=$(median "${samples[@]}")
    base="-"
    if [ -n "${BENCH_PLAN_BASE_BIN:-}" ]; then
      bsamples=()
      for r in $(seq 1 "$R"); do
        s=$(TF_CLI_CONFIG_FILE="$work/base.tfrc" timed_plan "curve-base-plan-$n-$r") || die "base plan of $n sessions failed"
        bsamples+=("$s")
      done
      base=$(median "${bsamples[@]}")
    fi
    # The floor: the same plan without the refresh (CLI, provider start, plan of N); and
    # the CPU seconds (user + sys of terraform and the provider) of both plans: on a
    # loaded machine, CPU is what the wall time is made of.
    /usr/bin/time -f '%e %U %S' -o "$work/logs/cpu-refresh-$n" "$TERRAFORM" -chdir="$class" plan -parallelism=30 -no-color >/dev/null 2>&1 ||
      die "plan (timed) failed"
    /usr/bin/time -f '%e %U %S' -o "$work/logs/cpu-norefresh-$n" "$TERRAFORM" -chdir="$class" plan -refresh=false -parallelism=30 -no-color >/dev/null 2>&1 ||
      die "plan -refresh=false failed"
    cpu=$(awk '{ printf "%.1f", $2 + $3 }' "$work/logs/cpu-refresh-$n")
    nr=$(awk '{ printf "%.2f", $1 }' "$work/logs/cpu-norefresh-$n")
    nrcpu=$(awk '{ printf "%.1f", $2 + $3 }' "$work/logs/cpu-norefresh-$n")
    log "  plan $m s (samples ${samples[*]}, CPU $cpu s), base binary $base s, -refresh=false $nr s (CPU $nrcpu s)"
    rows+=("$(printf '  %8s %10s %10s %12s %10s %16s %12s %10s' "$n" "$m" "$cpu" \
      "$(awk -v m="$m" -v n="$n" 'BEGIN { printf "%.1f", 1000 * m / n }')" "$base" "$nr" "$nrcpu" "$a")")
  done
  echo
  echo "No-change terraform plan of a Kubernetes class of namespace sessions, -parallelism=30, median of $R (goal: 200 within 5 s)"
  printf '  %8s %10s %10s %12s %10s %16s %12s %10s\n' "sessions" "plan s" "plan CPU" "ms/session" "base s" "-refresh=false s" "its CPU s" "apply s"
  printf '%s\n' "${rows[@]}"
  echo "  (plan CPU: user + sys seconds of terraform and the provider for one plan; base s: the"
  echo "  BENCH_PLAN_BASE_BIN binary's plan; apply s: terraform apply adding the sessions up to"
  echo "  that size; $(uptime | sed 's/.*load/load/'))"
  exit 0
fi

declare -a d_up d_down p_apply p_destroy p_plan
plan_changes=0

for r in $(seq 1 "$R"); do
  log "repetition $r/$R: direct client-go work (namespace + 10 objects + pod) x $N"
  "$work/nalabo-benchk8s" -n "$N" -kubeconfig "$KUBECONFIG_PATH" -image "$IMAGE" \
    -cpu "$CPU" -memory "$MEMORY" -storage "$STORAGE" -qps "$QPS" -burst "$BURST" >"$work/logs/direct-$r.log" 2>&1 ||
    { cat "$work/logs/direct-$r.log" >&2; die "direct run failed"; }
  line=$(grep '^direct-k8s ' "$work/logs/direct-$r.log")
  d_up+=("$(sed -E 's/.* up=([0-9.]+).*/\1/' <<<"$line")")
  d_down+=("$(sed -E 's/.* down=([0-9.]+).*/\1/' <<<"$line")")
  log "  $line"

  log "repetition $r/$R: terraform apply -parallelism=$N"
  s=$(timed "apply-$r" tf apply -auto-approve -parallelism="$N" -no-color) || die "terraform apply failed"
  p_apply+=("$s")
  log "  apply $s s"

  log "repetition $r/$R: terraform plan (refresh of $N sessions)"
  t=$(now)
  set +e
  tf plan -detailed-exitcode -parallelism="$N" -no-color >"$work/logs/plan-$r.log" 2>&1
  rc=$?
  set -e
  s=$(elapsed "$t")
  case $rc in
  0) ;;
  2) plan_changes=$((plan_changes + 1)); log "  plan after apply is NOT empty:"; grep -E '^  # |Plan:' "$work/logs/plan-$r.log" | head -n 10 >&2 ;;
  *) tail -n 40 "$work/logs/plan-$r.log" >&2; die "terraform plan failed" ;;
  esac
  p_plan+=("$s")
  log "  plan $s s"

  log "repetition $r/$R: terraform destroy -parallelism=$N"
  s=$(timed "destroy-$r" tf destroy -auto-approve -parallelism="$N" -no-color) || die "terraform destroy failed"
  p_destroy+=("$s")
  log "  destroy $s s"

  left=$(kc get namespaces -o name -l nalabo.io/managed-by=terraform-provider-nalabo,nalabo.io/template=bench-k8s | wc -l)
  [ "$left" = 0 ] || log "  WARNING: $left session namespaces of this class remain after destroy"
done


mdu=$(median "${d_up[@]}")
mdd=$(median "${d_down[@]}")
mpa=$(median "${p_apply[@]}")
mpd=$(median "${p_destroy[@]}")
mpp=$(median "${p_plan[@]}")

echo
echo "Kubernetes class of $N namespace sessions, $R repetitions, median seconds (image $IMAGE, quota cpu $CPU, memory $MEMORY)"
printf '  %-44s %10s %10s\n' "" "up/apply" "down/destroy"
printf '  %-44s %10s %10s\n' "direct client-go (namespace + objects + pod)" "$mdu" "$mdd"
printf '  %-44s %10s %10s\n' "provider: terraform apply / destroy" "$mpa" "$mpd"
printf '  %-44s %10s %10s   goal <= 1.15x: apply %s, destroy %s\n' "ratio provider / direct" \
  "$(ratio "$mpa" "$mdu")" "$(ratio "$mpd" "$mdd")" "$(verdict "$mpa" "$mdu" 1.15)" "$(verdict "$mpd" "$mdd" 1.15)"
printf '  %-44s %10s\n' "terraform plan on the applied class (refresh)" "$mpp"
echo
echo "  samples: direct up ${d_up[*]} | down ${d_down[*]}"
echo "           apply ${p_apply[*]} | destroy ${p_destroy[*]} | plan ${p_plan[*]}"
[ "$plan_changes" = 0 ] || echo "  WARNING: the plan after apply was not empty in $plan_changes of $R repetitions"
echo
echo "Notes: terraform times are whole commands (CLI start, provider start, state, the"
echo "template's ConfigMap); both wait for pod readiness and namespace deletion with watches (the provider: the kstatus watcher)."
echo "Compare ratios within one run, not absolute times across machines or loads."
