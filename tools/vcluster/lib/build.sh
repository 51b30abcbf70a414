#!/usr/bin/env bash
# Builds the vCluster harness's binaries into $VCLUSTER_BIN_DIR (default
# /var/cache/nalabo/vcluster/bin, outside the clone), all static for images FROM scratch:
#   group "main": vcluster (the syncer), kube-apiserver, kube-controller-manager, in one
#                 `go build` of this directory's wrapper module (CGO_ENABLED=0);
#   group "kine": kine (embedded sqlite needs cgo: linked with -extldflags -static);
#   group "coredns": coredns (CGO_ENABLED=0).
# Each group is skipped when its binaries exist and its stamp (go version, flags, and the
# wrapper module's go.mod/go.sum or the pinned version) matches. Run it under nice: it
# takes minutes of both cores.
#   tools/vcluster/lib/build.sh [main] [kine] [coredns]   (default: all three)
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
command -v go >/dev/null || vc_die "go is not on PATH"

out=$VCLUSTER_BIN_DIR
mkdir -p "$out"
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(main kine coredns)

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
  vc_log "$name: built in $(vc_since "$start") s: $(cd "$out" && du -ch $bins | tail -1 | cut -f1)"
}

main_ldflags="-s -w -X github.com/loft-sh/vcluster/pkg/telemetry.SyncerVersion=$VC_VERSION -X k8s.io/component-base/version.gitVersion=$VC_K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"
main_pkgs="github.com/loft-sh/vcluster/cmd/vcluster k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager"
build_main() {
  (cd "$VC_MODULE_DIR" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" \
    go build -trimpath -ldflags "$main_ldflags" -o "$tmp/" $main_pkgs)
}
kine_tags="nats,netgo,osusergo"
kine_ldflags="-extldflags -static -s -w"
kine_cflags="-DSQLITE_ENABLE_DBSTAT_VTAB=1 -DSQLITE_USE_ALLOCA=1"
build_kine() {
  # Outside any module: go install PKG@VERSION uses kine's own go.mod (and its replaces).
  (cd "$tmp" && GOBIN=$tmp CGO_ENABLED=1 CGO_CFLAGS="$kine_cflags" GOFLAGS=-buildvcs=false \
    go install -trimpath -tags "$kine_tags" -ldflags "$kine_ldflags" "github.com/k3s-io/kine@$VC_KINE_VERSION")
}
coredns_ldflags="-s -w"
build_coredns() {
  (cd "$tmp" && GOBIN=$tmp CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    go install -trimpath -ldflags "$coredns_ldflags" "github.com/coredns/coredns@$VC_COREDNS_VERSION")
}

for g in "${groups[@]}"; do
  case $g in
    main) build_group main "vcluster kube-apiserver kube-controller-manager" \
            "$main_ldflags $main_pkgs $(cat "$VC_MODULE_DIR/go.mod" "$VC_MODULE_DIR/go.sum")" build_main ;;
    kine) build_group kine kine "kine@$VC_KINE_VERSION $kine_tags $kine_ldflags $kine_cflags" build_kine ;;
    coredns) build_group coredns coredns "coredns@$VC_COREDNS_VERSION $coredns_ldflags" build_coredns ;;
    *) vc_die "build.sh: unknown group $g (main, kine, coredns)" ;;
  esac
done
