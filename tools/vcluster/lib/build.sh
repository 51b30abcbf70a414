#!/usr/bin/env bash
# Builds the vCluster harness's binaries into $VCLUSTER_BIN_DIR (default
# /var/cache/nalabo/vcluster/bin, outside the clone), all static for images FROM scratch:
#   group "main": vcluster (the syncer) and coredns (only the plugins the vCluster Corefile
#                 uses), from the test cluster's module (tools/testcluster/go.mod, CGO_ENABLED=0)
#                 after its own binaries, so every Kubernetes package is compiled once;
#   group "kine": kine (embedded sqlite needs cgo: linked with -extldflags -static).
# The control plane (kube-apiserver, kube-controller-manager) is the test cluster's own
# binaries: lib/images.sh copies them. Each group is skipped when its binaries exist and
# its stamp matches. Run it under nice: a cold build takes minutes of both cores.
#   tools/vcluster/lib/build.sh [main] [kine]   (default: both)
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
command -v go >/dev/null || vc_die "go is not on PATH"

out=$VCLUSTER_BIN_DIR
mkdir -p "$out"
# One build at a time (.ci/run starts one early; scripts/vcluster-harness.sh runs it again).
exec 8>"$VCLUSTER_CACHE_DIR/.build.lock"
flock -n 8 || { vc_log "waiting for another harness build (lock $VCLUSTER_CACHE_DIR/.build.lock)"; flock 8; }
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(main kine)

# build_group NAME "BINARIES" STAMP-INPUT COMMAND... : COMMAND writes the binaries into $tmp.
build_group() {
  local name=$1 bins=$2 input=$3; shift 3
  local stamp ok=1 b
  stamp=$(printf '%s\n%s\n' "$(go version)" "$input" | sha256sum | cut -d' ' -f1)
  for b in $bins; do [ -x "$out/$b" ] || ok=0; done
  if [ $ok = 1 ] && [ "$(cat "$out/.stamp-$name" 2>/dev/null)" = "$stamp" ]; then
    vc_log "$name: up to date in $out (stamp ${stamp:0:12})"
    return 0
  fi
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  vc_log "$name: building $bins (minutes on 2 cores)"
  local start; start=$(vc_now)
  if ! "$@"; then rm -rf "$tmp"; vc_die "$name: build failed"; fi
  for b in $bins; do
    [ -x "$tmp/$b" ] || { rm -rf "$tmp"; vc_die "$name: build produced no $b"; }
    mv -f "$tmp/$b" "$out/$b"
  done
  rm -rf "$tmp"
  echo "$stamp" > "$out/.stamp-$name"
  # shellcheck disable=SC2086 # a list of binary names
  vc_log "$name: built in $(vc_since "$start") s: $(cd "$out" && du -ch $bins | tail -1 | cut -f1)"
}

# The syncer and CoreDNS come from the test cluster's module graph (tools/testcluster/go.mod:
# one Kubernetes version, each package compiled once); its build script serialises builds and
# keeps a stamp. The control plane image reuses the test cluster's kube-apiserver and
# kube-controller-manager (lib/images.sh).
tc_build=$VC_REPO_DIR/tools/testcluster/lib/build.sh
main_ldflags="-s -w -X github.com/loft-sh/vcluster/pkg/telemetry.SyncerVersion=$VC_VERSION -X k8s.io/component-base/version.gitVersion=$VC_K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
build_main() {
  "$tc_build" # the cluster's binaries first (a no-op when built): they compile the shared packages
  "$tc_build" --out "$out" --ldflags "$main_ldflags" github.com/loft-sh/vcluster/cmd/vcluster ./cmd/coredns
}
kine_tags="nats,netgo,osusergo"
kine_ldflags="-extldflags -static -s -w"
kine_cflags="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1"
build_kine() {
  # Outside any module: go install PKG@VERSION uses kine's own go.mod (and its replaces).
  (cd "$tmp" && GOBIN=$tmp CGO_ENABLED=1 CGO_CFLAGS="$kine_cflags" GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$kine_tags" -ldflags "$kine_ldflags" "github.com/k3s-io/kine@$VC_KINE_VERSION")
}
for g in "${groups[@]}"; do
  case $g in
    main) build_main ;;
    kine) build_group kine kine "kine@$VC_KINE_VERSION $kine_tags $kine_ldflags $kine_cflags" build_kine ;;
    *) vc_die "build.sh: unknown group $g (main, kine)" ;;
  esac
done
