#!/usr/bin/env bash
# Builds the test cluster's binaries from tools/testcluster's pinned module graph into
# $TESTCLUSTER_BIN_DIR (default /var/cache/nalabo/k8s/bin, outside the clone), in one
# `go build`, static (CGO_ENABLED=0: the same binaries go into images FROM scratch).
# Skipped when every binary exists and the stamp matches the hash of go.mod, go.sum, the
# local commands' sources and the build flags. Cold: ~6+ minutes and ~3 GB on 2 cores.
#
# Also builds other packages of the same module graph (the vCluster harness's syncer and
# CoreDNS: tools/vcluster/lib/build.sh), which then reuse the compiled packages:
#   tools/testcluster/lib/build.sh [--module DIR] --out DIR [--ldflags FLAGS] PKG...
# builds PKG... into --out with the same stamp logic. Builds are serialised by a lock
# ($TESTCLUSTER_CACHE_DIR/.build.lock): two concurrent `go build`s would compile the same
# packages twice (the build cache does not coordinate processes).
set -euo pipefail
# shellcheck source=env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

module=$TC_MODULE_DIR
out=$TESTCLUSTER_BIN_DIR
tc_minor=${TC_K8S_VERSION#v1.}; tc_minor=${tc_minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$TC_K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$tc_minor"
pkgs=()
while [ $# -gt 0 ]; do
  case $1 in
    --module) module=$(cd "$2" && pwd); shift 2 ;;
    --out) out=$2; shift 2 ;;
    --ldflags) ldflags=$2; shift 2 ;;
    -*) tc_die "build.sh: unknown flag $1" ;;
    *) pkgs+=("$1"); shift ;;
  esac
done
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./cmd/etcd ./cmd/pause ./cmd/kube-network-policies)
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    pkgs+=("k8s.io/kubernetes/cmd/$c")
  done
fi

export PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || tc_die "go is not on PATH"

stamp=$( { go version; echo "$ldflags"; printf '%s\n' "${pkgs[@]}"
           cat "$module/go.mod" "$module/go.sum"
           find "$module/cmd" -name '*.go' -type f 2>/dev/null | LC_ALL=C sort | xargs -r cat; } | sha256sum | cut -d' ' -f1)
names=()
for p in "${pkgs[@]}"; do names+=("$(basename "$p")"); done
# Another module building into the same directory keeps a stamp of its own.
stamp_file=$out/.stamp
[ "$module" = "$(cd "$TC_MODULE_DIR" && pwd)" ] || stamp_file=$out/.stamp-$(basename "$module")

up_to_date() {
  local n
  for n in "${names[@]}"; do [ -x "$out/$n" ] || return 1; done
  [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]
}
if up_to_date; then
  tc_log "binaries up to date in $out (stamp ${stamp:0:12})"
  exit 0
fi
mkdir -p "$TESTCLUSTER_CACHE_DIR"
exec 9>"$TESTCLUSTER_CACHE_DIR/.build.lock"
if ! flock -n 9; then
  tc_log "waiting for another build of this module graph (lock $TESTCLUSTER_CACHE_DIR/.build.lock)"
  flock 9
  if up_to_date; then
    tc_log "binaries up to date in $out (stamp ${stamp:0:12}), built meanwhile"
    exit 0
  fi
fi

mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tc_log "building ${names[*]} into $out (cold: several minutes, ~3 GB of memory)"
start=$(tc_now)
(cd "$module" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly -buildvcs=false" \
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
for n in "${names[@]}"; do
  [ -x "$tmp/$n" ] || tc_die "build produced no $n"
  mv -f "$tmp/$n" "$out/$n"
done
echo "$stamp" > "$stamp_file"
tc_log "built in $(tc_since "$start") s: $(cd "$out" && du -ch "${names[@]}" | tail -1 | cut -f1)"
