#!/usr/bin/env bash
# Workload images of the test cluster, built offline (`DOCKER_BUILDKIT=0 docker build`,
# FROM scratch; nothing is pulled) and imported into the cluster's own containerd.
#
#   images.sh build                 build the pause, workspace and httpd images (skipped when
#                                   an image with the same inputs exists)
#   images.sh import IMAGE...       `docker save | ctr import` into the cluster's containerd
#                                   (namespace k8s.io); skipped when already imported
#
# Another harness (a later vCluster one, say) builds its own images with docker and imports
# them with `images.sh import` or scripts/testcluster-import-image.sh.
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

busybox=${BUSYBOX:-/bin/busybox}
dockerfiles=$TC_REPO_DIR/testdata/images/k8s

# build_image TAG DOCKERFILE_DIR FILE...: builds TAG from the Dockerfile in DOCKERFILE_DIR
# with FILE... copied into the context; skipped when TAG carries the same inputs hash.
build_image() {
  local tag=$1 dir=$2; shift 2
  local hash
  hash=$(cat "$dir/Dockerfile" "$@" | sha256sum | cut -c1-32)
  if [ "$(docker image inspect -f '{{index .Config.Labels "nalabo.io/testcluster-inputs"}}' "$tag" 2>/dev/null)" = "$hash" ]; then
    return 0
  fi
  local ctx
  ctx=$(mktemp -d)
  cp "$dir/Dockerfile" "$ctx/"
  local f
  for f in "$@"; do cp "$f" "$ctx/"; done
  tc_log "docker build $tag"
  if ! DOCKER_BUILDKIT=0 docker build -q --label "nalabo.io/testcluster-inputs=$hash" -t "$tag" "$ctx" >/dev/null 2>"$ctx/.err"; then
    cat "$ctx/.err" >&2
    rm -rf "$ctx"
    tc_die "docker build $tag failed"
  fi
  rm -rf "$ctx"
}

cmd_build() {
  if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    tc_die "$busybox is not static; install Debian's busybox-static"
  fi
  if [ ! -x "$TESTCLUSTER_BIN_DIR/pause" ] || [ ! -x "$TESTCLUSTER_BIN_DIR/kubectl" ]; then
    tc_die "binaries missing in $TESTCLUSTER_BIN_DIR; run lib/build.sh"
  fi
  build_image "$TC_PAUSE_IMAGE" "$dockerfiles/pause" "$TESTCLUSTER_BIN_DIR/pause"
  build_image "$TC_WORKSPACE_IMAGE" "$dockerfiles/workspace" "$busybox" "$TESTCLUSTER_BIN_DIR/kubectl"
  build_image "$TC_HTTPD_IMAGE" "$dockerfiles/httpd" "$busybox"
}

cmd_import() {
  [ -S "$TC_CONTAINERD_SOCK" ] || tc_die "the test cluster's containerd is not running ($TC_CONTAINERD_SOCK)"
  local marks=$TESTCLUSTER_STATE_DIR/imported todo=() img id
  mkdir -p "$marks"
  for img in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || tc_die "no docker image $img (build it first)"
    if [ "$(cat "$marks/$(echo "$img" | tr '/:' '__')" 2>/dev/null)" != "$id" ]; then
      todo+=("$img")
    fi
  done
  [ ${#todo[@]} -eq 0 ] && return 0
  tc_log "importing ${todo[*]} into the cluster's containerd"
  docker save "${todo[@]}" | ctr -a "$TC_CONTAINERD_SOCK" -n k8s.io images import - >/dev/null
  for img in "${todo[@]}"; do
    docker image inspect -f '{{.Id}}' "$img" > "$marks/$(echo "$img" | tr '/:' '__')"
  done
}

case ${1:-} in
  build) cmd_build ;;
  import) shift; cmd_import "$@" ;;
  *) echo "usage: $0 build | import IMAGE..." >&2; exit 2 ;;
esac
