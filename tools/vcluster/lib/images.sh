#!/usr/bin/env bash
# Builds the vCluster harness's images (DOCKER_BUILDKIT=0 docker build, FROM scratch with
# Debian's busybox-static; nothing is pulled) from the binaries lib/build.sh made, then
# imports them into the test cluster's containerd (scripts/testcluster-import-image.sh).
# An image is rebuilt only when its inputs' hash changed.
#   tools/vcluster/lib/images.sh [build] [import]   (default: both)
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

busybox=${BUSYBOX:-/bin/busybox}
dockerfiles=$VC_REPO_DIR/testdata/images/vcluster
bin=$VCLUSTER_BIN_DIR

build_image() {
  local tag=$1 dir=$2; shift 2
  local hash ctx f
  hash=$(cat "$dir/Dockerfile" "$@" | sha256sum | cut -c1-32)
  if [ "$(docker image inspect -f '{{index .Config.Labels "nalabo.io/vcluster-inputs"}}' "$tag" 2>/dev/null)" = "$hash" ]; then
    vc_log "image $tag up to date"
    return 0
  fi
  ctx=$(mktemp -d)
  cp "$dir/Dockerfile" "$ctx/"
  for f in "$@"; do cp "$f" "$ctx/"; done
  vc_log "docker build $tag"
  if ! DOCKER_BUILDKIT=0 docker build -q --label "nalabo.io/vcluster-inputs=$hash" -t "$tag" "$ctx" >/dev/null 2>"$ctx/.err"; then
    cat "$ctx/.err" >&2; rm -rf "$ctx"; vc_die "docker build $tag failed"
  fi
  rm -rf "$ctx"
}

cmd_build() {
  file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || vc_die "$busybox is not static; install Debian's busybox-static"
  local b
  for b in "$bin/vcluster" "$bin/kine" "$bin/coredns" "$VC_K8S_BIN_DIR/kube-apiserver" "$VC_K8S_BIN_DIR/kube-controller-manager"; do
    [ -x "$b" ] || vc_die "no $b; run tools/vcluster/lib/build.sh"
    # FROM scratch: a dynamically linked binary fails with "no such file or directory".
    file -L "$b" | grep -q 'statically linked' || vc_die "$b is not statically linked"
  done
  build_image "$VCLUSTER_SYNCER_IMAGE" "$dockerfiles/syncer" "$busybox" "$bin/vcluster" "$bin/kine"
  build_image "$VCLUSTER_K8S_IMAGE" "$dockerfiles/k8s" "$busybox" "$VC_K8S_BIN_DIR/kube-apiserver" "$VC_K8S_BIN_DIR/kube-controller-manager"
  build_image "$VCLUSTER_COREDNS_IMAGE" "$dockerfiles/coredns" "$bin/coredns"
}

cmd_import() {
  "$VC_REPO_DIR/scripts/testcluster-import-image.sh" "$VCLUSTER_SYNCER_IMAGE" "$VCLUSTER_K8S_IMAGE" "$VCLUSTER_COREDNS_IMAGE"
}

[ $# -gt 0 ] || set -- build import
for c in "$@"; do
  case $c in
    build) cmd_build ;;
    import) cmd_import ;;
    *) echo "usage: $0 [build] [import]" >&2; exit 2 ;;
  esac
done
