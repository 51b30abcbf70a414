#!/usr/bin/env bash
# make bench-vcluster: how long `terraform apply` takes to a ready Kubernetes session,
# vcluster isolation next to namespace isolation, and a class of vCluster sessions in
# one apply. Everything real: the provider through the Terraform CLI, the local test
# cluster, a vCluster v0.30.0 per session from scripts/vcluster-harness.sh.
#
# Both templates are an nginx demo (a Deployment + Service, locally built
# httpd image) with the same workspace; the templates are applied once first. Then:
#   R times, for each isolation: `terraform apply` adding one session (timed: the whole
#   command, until the session is ready: workspace Running and the manifests ready the
#   kstatus way), then `terraform apply` removing it (timed: until everything is gone);
#   once: a class of BENCH_CLASS vCluster sessions added in one apply, then removed.
# Prints the medians and the ratio vcluster / namespace.
# Then the warm pool (BENCH_POOL=1, the default): R times, the vcluster template's
# warm_pool = 1 filled (not timed), one session added (timed: it claims the entry);
# once, a pool of BENCH_CLASS filled (timed separately) and a class of BENCH_CLASS
# sessions added in one apply (timed). The idle cost of a free entry is read from the
# kubelet's /stats/summary (through the API server's node proxy) while the pool is full:
# CPU (nanocores) and working set memory of the entries' pods, per entry.
#
# Environment: NALABO_K8S_KUBECONFIG (default $CACHE/k8s/kubeconfig), BENCH_R (5),
# BENCH_CLASS (10; 0 skips the class), BENCH_POOL (1; 0 skips the warm pool runs),
# BENCH_COLD (1; 0 runs the warm pool runs only), BENCH_CPU / BENCH_MEMORY (500m / 512Mi per
# session), BENCH_BIN (./bin), CACHE (/var/cache/nalabo), TERRAFORM.
set -euo pipefail

BENCH_NAME=bench-vcluster
# shellcheck source=scripts/lib/bench.sh
. "$(dirname "$0")/lib/bench.sh"
R=${BENCH_R:-5}
CLASS=${BENCH_CLASS:-10}
POOL=${BENCH_POOL:-1}
COLD=${BENCH_COLD:-1}
KUBECONFIG_PATH=${NALABO_K8S_KUBECONFIG:-$CACHE/k8s/kubeconfig}
bin=${BENCH_BIN:-$here/bin}
# Per session (both isolations): small enough that a class of 10 fits the test node's 2
# CPUs by requests (the workspace requests an eighth, a template Deployment's container a
# sixteenth, a vCluster's control plane 50m and its CoreDNS 10m).
CPU=${BENCH_CPU:-500m}
MEMORY=${BENCH_MEMORY:-512Mi}


[ -s "$KUBECONFIG_PATH" ] || die "no kubeconfig at $KUBECONFIG_PATH: run make testcluster"
bench_need "$bin"
vc_env=$("$here/scripts/vcluster-harness.sh" --env) || die "scripts/vcluster-harness.sh failed"
eval "$vc_env"

bench_workdir
bench_tfrc "$work/dev-overrides.tfrc" "$bin"
export TF_CLI_CONFIG_FILE="$work/dev-overrides.tfrc"

cat >"$class/main.tf" <<EOF
terraform {
  required_providers {
    nalabo = { source = "nalabo/nalabo" }
  }
}

variable "namespace_sessions" { default = 0 }
variable "vcluster_sessions" { default = 0 }
variable "vcluster_pool" { default = 0 }

provider "nalabo" {
  kubernetes {
    config_path = "$KUBECONFIG_PATH"
    namespace   = "nalabo-bench"
    vcluster {
      chart_path          = "$NALABO_VCLUSTER_CHART"
      syncer_image        = "$NALABO_VCLUSTER_SYNCER_IMAGE"
      control_plane_image = "$NALABO_VCLUSTER_K8S_IMAGE"
      coredns_image       = "$NALABO_VCLUSTER_COREDNS_IMAGE"
      image_pull_policy   = "Never"
    }
  }
}

locals {
  manifests = <<-EOT
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: nginx-demo
    spec:
      replicas: 1
      selector:
        matchLabels: {app: nginx-demo}
      template:
        metadata:
          labels: {app: nginx-demo}
        spec:
          securityContext: {runAsNonRoot: true, runAsUser: 101, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: web
            image: nalabo-test/httpd:1
            imagePullPolicy: IfNotPresent
            ports: [{containerPort: 8080}]
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
    ---
    apiVersion: v1
    kind: Service
    metadata:
      name: nginx-demo
    spec:
      selector: {app: nginx-demo}
      ports: [{port: 80, targetPort: 8080}]
  EOT
}

resource "nalabo_workshop_template" "namespace" {
  name                = "bench-ns"
  infrastructure_type = "kubernetes"
  isolation           = "namespace"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  manifests           = local.manifests
  resources           = { cpu = "$CPU", memory = "$MEMORY" }
}

resource "nalabo_workshop_template" "vcluster" {
  name                = "bench-vc"
  infrastructure_type = "kubernetes"
  isolation           = "vcluster"
  workspace {
    image   = "nalabo-test/k8s-workspace:1"
    command = ["sleep", "infinity"]
  }
  manifests           = local.manifests
  resources           = { cpu = "$CPU", memory = "$MEMORY" }
  warm_pool           = var.vcluster_pool
}

resource "nalabo_workshop_session" "namespace" {
  count       = var.namespace_sessions
  template_id = nalabo_workshop_template.namespace.id
  participant = format("ns-%02d", count.index)
}

resource "nalabo_workshop_session" "vcluster" {
  count       = var.vcluster_sessions
  template_id = nalabo_workshop_template.vcluster.id
  participant = format("vc-%02d", count.index)
}
EOF

cleanup() {
  local rc=$?
  bench_destroy_leftover 20
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# apply NAME NS VC [POOL]: terraform apply with that many sessions of each isolation
# (and the vcluster template's warm_pool); prints the seconds the whole command took.
apply() {
  local name=$1 t
  t=$(now)
  if ! tf apply -auto-approve -parallelism=20 -no-color -var "namespace_sessions=$2" -var "vcluster_sessions=$3" \
    -var "vcluster_pool=${4:-0}" \
    >"$work/logs/$name.log" 2>&1; then
    log "$name failed; last lines of its output:"
    tail -n 40 "$work/logs/$name.log" >&2
    return 1
  fi
  elapsed "$t"
}

log "templates (applied once, not timed)"
apply templates 0 0 >/dev/null || die "applying the templates failed"

declare -a ns_up ns_down vc_up vc_down
for r in $(seq 1 "$R"); do
  [ "$COLD" = 1 ] || break
  s=$(apply "ns-up-$r" 1 0) || die "apply failed"; ns_up+=("$s")
  d=$(apply "ns-down-$r" 0 0) || die "apply failed"; ns_down+=("$d")
  log "repetition $r/$R: namespace session ready in $s s, removed in $d s"
  s=$(apply "vc-up-$r" 0 1) || die "apply failed"; vc_up+=("$s")
  d=$(apply "vc-down-$r" 0 0) || die "apply failed"; vc_down+=("$d")
  log "repetition $r/$R: vcluster session ready in $s s, removed in $d s"
done

class_up='' class_down=''
if [ "$CLASS" -gt 0 ] && [ "$COLD" = 1 ]; then
  log "a class of $CLASS vCluster sessions in one apply"
  class_up=$(apply class-up 0 "$CLASS") || die "apply failed"
  ready=$(tf state list | grep -c '^nalabo_workshop_session.vcluster' || true)
  log "  $ready sessions ready in $class_up s"
  class_down=$(apply class-down 0 0) || die "apply failed"
  log "  removed in $class_down s"
fi
kubectl() { "$CACHE/k8s/bin/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
# idle_cost: "<millicores> <MiB>" per free pool entry of bench-vc, from every node's
# /stats/summary (the pods of the namespaces labelled nalabo.io/pool=free).
idle_cost() {
  local nss nodes
  nss=$(kubectl get namespaces -l 'nalabo.io/pool=free,nalabo.io/template=bench-vc' -o jsonpath='{.items[*].metadata.name}')
  [ -n "$nss" ] || { echo "n/a n/a"; return; }
  nodes=$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')
  for n in $nodes; do kubectl get --raw "/api/v1/nodes/$n/proxy/stats/summary" | jq -c .; done |
    python3 -c '
import json, sys
nss = set(sys.argv[1].split())
cpu = mem = 0
for line in sys.stdin:
    if not line.strip():
        continue
    for p in json.loads(line).get("pods", []):
        if p["podRef"]["namespace"] in nss:
            cpu += (p.get("cpu") or {}).get("usageNanoCores", 0)
            mem += (p.get("memory") or {}).get("workingSetBytes", 0)
n = len(nss)
print("%.0f %.0f" % (cpu / 1e6 / n, mem / 2**20 / n))
' "$nss"
}

declare -a pool_up
pool_fill='' pool_class_up='' pool_cost='n/a n/a'
if [ "$POOL" = 1 ]; then
  for r in $(seq 1 "$R"); do
    apply "pool-fill-$r" 0 0 1 >/dev/null || die "apply failed"
    s=$(apply "pool-up-$r" 0 1 1) || die "apply failed"; pool_up+=("$s")
    apply "pool-down-$r" 0 0 0 >/dev/null || die "apply failed"
    log "repetition $r/$R: vcluster session from a warm pool ready in $s s"
  done
  if [ "$CLASS" -gt 0 ]; then
    log "a warm pool of $CLASS, then a class of $CLASS vCluster sessions in one apply"
    pool_fill=$(apply pool-class-fill 0 0 "$CLASS") || die "apply failed"
    sleep 30 # settle: the control planes' start-up is not their idle cost
    pool_cost=$(idle_cost)
    log "  pool filled in $pool_fill s; idle cost per entry (millicores MiB): $pool_cost"
    pool_class_up=$(apply pool-class-up 0 "$CLASS" "$CLASS") || die "apply failed"
    log "  class ready in $pool_class_up s"
    apply pool-class-down 0 0 0 >/dev/null || die "apply failed"
  fi
fi

left=$("$CACHE/k8s/bin/kubectl" --kubeconfig "$KUBECONFIG_PATH" get namespaces -o name \
  -l 'nalabo.io/managed-by=terraform-provider-nalabo,nalabo.io/template in (bench-ns,bench-vc)' | wc -l)

median() { [ $# -gt 0 ] || { printf 'n/a'; return; }; printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { case "$1$2" in *n/a*) printf 'n/a' ;; *) awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }' ;; esac; }
mnu=$(median "${ns_up[@]}"); mnd=$(median "${ns_down[@]}")
mvu=$(median "${vc_up[@]}"); mvd=$(median "${vc_down[@]}")

echo
echo "terraform apply to a ready Kubernetes session (nginx-demo + workspace, $CPU / $MEMORY), $R repetitions, median seconds"
printf '  %-36s %12s %12s\n' "" "apply->ready" "apply->gone"
printf '  %-36s %12s %12s\n' "namespace isolation" "$mnu" "$mnd"
printf '  %-36s %12s %12s\n' "vcluster isolation (vCluster v0.30.0)" "$mvu" "$mvd"
printf '  %-36s %12s %12s\n' "ratio vcluster / namespace" "$(ratio "$mvu" "$mnu")" "$(ratio "$mvd" "$mnd")"
[ -z "$class_up" ] || printf '  %-36s %12s %12s\n' "class of $CLASS vCluster sessions, one apply" "$class_up" "$class_down"
if [ "$POOL" = 1 ]; then
  printf '  %-36s %12s\n' "vcluster from a warm pool of 1" "$(median "${pool_up[@]}")"
  [ -z "$pool_class_up" ] || printf '  %-36s %12s\n' "class of $CLASS from a pool of $CLASS" "$pool_class_up"
  [ -z "$pool_fill" ] || printf '  %-36s %12s\n' "filling a pool of $CLASS (template)" "$pool_fill"
  read -r pc pm <<<"$pool_cost"
  echo "  idle cost of a free vCluster pool entry: $pc millicores, $pm MiB working set (kubelet /stats/summary)"
fi
echo
echo "  samples: namespace up ${ns_up[*]} | down ${ns_down[*]}"
echo "           vcluster  up ${vc_up[*]} | down ${vc_down[*]}"
[ "$POOL" != 1 ] || echo "           pool      up ${pool_up[*]}"
[ "$left" = 0 ] || echo "  WARNING: $left session namespaces of the benchmark remain"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores here: compare within one run)"
