# Sourced by scripts/vcluster-*.sh and tools/vcluster/lib/*.sh: versions, paths and image
# names of the local vCluster harness. Every path and image name can be overridden.
# shellcheck shell=bash disable=SC2034

VC_REPO_DIR=${VC_REPO_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}

VC_VERSION=v0.30.0          # github.com/loft-sh/vcluster: the syncer and the chart
VC_K8S_VERSION=v1.34.4      # the chart's Kubernetes minor for v0.30; the test cluster's own binaries
VC_KINE_VERSION=v0.14.4     # the backing store the syncer runs (embedded sqlite)
VC_COREDNS_VERSION=v1.12.4  # vCluster maps 1.34 to 1.12.1; 1.12.4 is the first 1.12 on client-go 0.34 (tools/testcluster)

# Binaries and their stamps: cached across clones and runs, never in the clone.
VCLUSTER_CACHE_DIR=${VCLUSTER_CACHE_DIR:-${CACHE:-/var/cache/nalabo}/vcluster}
VCLUSTER_BIN_DIR=${VCLUSTER_BIN_DIR:-$VCLUSTER_CACHE_DIR/bin}
# The control plane's kube-apiserver and kube-controller-manager: the test cluster's.
VC_K8S_BIN_DIR=${TESTCLUSTER_BIN_DIR:-${CACHE:-/var/cache/nalabo}/k8s/bin}

# Images built here (FROM scratch + Debian's busybox-static) and imported into the test
# cluster's containerd.
VCLUSTER_SYNCER_IMAGE=${VCLUSTER_SYNCER_IMAGE:-nalabo-test/vcluster-syncer:$VC_VERSION}
VCLUSTER_K8S_IMAGE=${VCLUSTER_K8S_IMAGE:-nalabo-test/vcluster-k8s:$VC_K8S_VERSION}
VCLUSTER_COREDNS_IMAGE=${VCLUSTER_COREDNS_IMAGE:-nalabo-test/coredns:${VC_COREDNS_VERSION#v}}

export PATH=$PATH:/usr/local/go/bin

vc_log() { printf '[vcluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
vc_die() { vc_log "ERROR: $*"; exit 1; }
vc_now() { date +%s.%N; }
vc_since() { awk -v a="$1" -v b="$(vc_now)" 'BEGIN{printf "%.1f", b-a}'; }
