#!/usr/bin/env bash
# The local vCluster harness, idempotent: builds the binaries if needed (cached in
# /var/cache/nalabo/vcluster/bin by stamp), builds the images (FROM scratch, nothing
# pulled), imports them into the running test cluster (scripts/testcluster-up.sh), and
# prints the vCluster chart's path: read from the Go module cache
# (github.com/loft-sh/vcluster@v0.30.0/chart), never copied into the repository.
#   scripts/vcluster-harness.sh            build + images + import, print the chart path
#   scripts/vcluster-harness.sh --env      print the settings as shell exports instead
# NALABO_VCLUSTER_IMAGES=chart: build nothing and use the chart's own images (pulled from
# their registries: a cluster of your own, NALABO_K8S_KUBECONFIG); the default "local"
# builds them here and imports them into the local test cluster.
# Builds run under `nice -n 10` (2 cores shared with other work). See tools/vcluster/README.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tools/vcluster/lib/env.sh
. "$here/tools/vcluster/lib/env.sh"

start=$(vc_now)
images=${NALABO_VCLUSTER_IMAGES:-local}
case $images in
  local)
    nice -n 10 "$here/tools/vcluster/lib/build.sh"
    "$here/tools/vcluster/lib/images.sh" build
    if [ -S /run/nalabo-testcluster/containerd/containerd.sock ]; then
      "$here/tools/vcluster/lib/images.sh" import
    else
      vc_log "the test cluster is not running: images not imported (scripts/testcluster-up.sh, then run this again)"
    fi ;;
  chart) vc_log "NALABO_VCLUSTER_IMAGES=chart: the chart's own images, nothing built" ;;
  *) vc_die "NALABO_VCLUSTER_IMAGES must be local or chart, not $images" ;;
esac
dir=$(cd "$here/tools/testcluster" && go mod download -json "github.com/loft-sh/vcluster@$VC_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -f "$dir/chart/Chart.yaml" ] || vc_die "no chart in the module cache at $dir/chart"
vc_log "harness ready in $(vc_since "$start") s"
if [ "${1:-}" = "--env" ]; then
  echo "export NALABO_VCLUSTER_CHART=$dir/chart"
  if [ "$images" = local ]; then
    echo "export NALABO_VCLUSTER_SYNCER_IMAGE=$VCLUSTER_SYNCER_IMAGE"
    echo "export NALABO_VCLUSTER_K8S_IMAGE=$VCLUSTER_K8S_IMAGE"
    echo "export NALABO_VCLUSTER_COREDNS_IMAGE=$VCLUSTER_COREDNS_IMAGE"
    echo "export NALABO_VCLUSTER_PULL_POLICY=Never"
  fi
else
  echo "$dir/chart"
fi
