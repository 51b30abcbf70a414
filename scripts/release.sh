#!/usr/bin/env bash
# Release archives with goreleaser (.goreleaser.yml), laid out as a provider filesystem
# mirror that `terraform init` installs from.
#
#   scripts/release.sh snapshot     every platform: dist/terraform-provider-nalabo_<v>_<os>_<arch>.zip,
#                                   dist/..._<v>_SHA256SUMS, dist/..._<v>_manifest.json, and dist/mirror
#   scripts/release.sh mirror       the same for this machine's platform only (make test)
#   scripts/release.sh goreleaser   only install goreleaser into $CACHE/bin when missing
#   scripts/release.sh version      print the version a build would get
#
# The mirror uses the packed layout (the release zips, unchanged):
#   dist/mirror/registry.terraform.io/nalabo/nalabo/terraform-provider-nalabo_<v>_<os>_<arch>.zip
# `terraform init` checks each zip against the lock file's h1: hash. dist/terraform.tfrc is
# a CLI configuration that installs nalabo/nalabo from it (TF_CLI_CONFIG_FILE).
#
# Version: NALABO_VERSION when set; X.Y.Z when HEAD is tagged vX.Y.Z and the tree is
# clean; otherwise 0.0.<build time, Unix seconds>. Terraform selects a pre-release
# (0.1.0-dev.3) only when a configuration pins it exactly, and refuses goreleaser's
# default snapshot version; a new number per build means `terraform init -upgrade` always
# installs the build just made, never a stale copy cached under the same version.
#
# goreleaser v$GORELEASER_VERSION is built from the Go module proxy into $CACHE/bin when
# missing (about 15 minutes cold on 2 cores, niced).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/nalabo}
GORELEASER_VERSION=${GORELEASER_VERSION:-2.15.1}
GORELEASER=${GORELEASER:-$CACHE/bin/goreleaser}
export PATH="/usr/local/go/bin:$PATH"
export CGO_ENABLED=0
dist="$here/dist"
log() { printf '[release %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

ensure_goreleaser() {
  if [ -x "$GORELEASER" ] && "$GORELEASER" --version 2>/dev/null | grep -q "GitVersion: *v$GORELEASER_VERSION\$"; then
    return
  fi
  mkdir -p "$CACHE/bin"
  exec 8>"$CACHE/.goreleaser.lock" # one build at a time (CI starts one in the background)
  flock -w 3600 8
  if [ -x "$GORELEASER" ] && "$GORELEASER" --version 2>/dev/null | grep -q "GitVersion: *v$GORELEASER_VERSION\$"; then
    return
  fi
  log "building goreleaser v$GORELEASER_VERSION into $CACHE/bin (go install, about 15 minutes cold)"
  local t
  t=$(date +%s)
  GOBIN="$CACHE/bin" nice -n 10 go install "github.com/goreleaser/goreleaser/v2@v$GORELEASER_VERSION"
  log "goreleaser built in $(($(date +%s) - t)) s"
}

version() {
  if [ -n "${NALABO_VERSION:-}" ]; then
    echo "$NALABO_VERSION"
    return
  fi
  local tag
  if tag=$(git -C "$here" describe --tags --exact-match --match 'v[0-9]*.[0-9]*.[0-9]*' 2>/dev/null) &&
    [ -z "$(git -C "$here" status --porcelain --untracked-files=no)" ]; then
    echo "${tag#v}"
    return
  fi
  echo "0.0.$(date +%s)"
}

# goreleaser VERSION [GOOS GOARCH]: a snapshot release into dist/, every platform of
# .goreleaser.yml or only the given one.
run_goreleaser() {
  local v=$1 cfg="$here/.goreleaser.yml"
  mkdir -p "$here/.tmp"
  if [ $# -eq 3 ]; then
    cfg="$here/.tmp/goreleaser-$2_$3.yml"
    # The same configuration with goos and goarch narrowed to one platform.
    sed -e '/^    goos:$/,/^    binary:/{/^      - /d}' -e "s/^    goos:\$/    goos: [$2]/" \
      -e "s/^    goarch:\$/    goarch: [$3]/" "$here/.goreleaser.yml" >"$cfg"
    grep -q "^    goos: \[$2\]" "$cfg" || { log "could not narrow $here/.goreleaser.yml to $2/$3"; exit 1; }
  fi
  local t
  t=$(date +%s)
  log "goreleaser release --snapshot --skip=sign, version $v${2:+, $2/$3 only}"
  (cd "$here" && NALABO_VERSION="$v" "$GORELEASER" release --config "$cfg" --snapshot --clean --skip=sign) >"$here/.tmp/goreleaser.log" 2>&1 ||
    { tail -n 40 "$here/.tmp/goreleaser.log" >&2; log "goreleaser failed (log: .tmp/goreleaser.log)"; exit 1; }
  # goreleaser lists the manifest in SHA256SUMS (checksum.extra_files) but only uploads
  # it with a published release: the Registry's file is copied next to the archives.
  cp "$here/terraform-registry-manifest.json" "$dist/terraform-provider-nalabo_${v}_manifest.json"
  (cd "$dist" && sha256sum --quiet -c "terraform-provider-nalabo_${v}_SHA256SUMS") ||
    { log "dist/ does not match terraform-provider-nalabo_${v}_SHA256SUMS"; exit 1; }
  log "goreleaser done in $(($(date +%s) - t)) s"
}

# mirror VERSION: dist/mirror from dist/'s archives, and dist/terraform.tfrc.
lay_out_mirror() {
  local v=$1 dir="$dist/mirror/registry.terraform.io/nalabo/nalabo" n=0
  rm -rf "$dist/mirror"
  mkdir -p "$dir"
  for zip in "$dist"/terraform-provider-nalabo_"${v}"_*_*.zip; do
    cp "$zip" "$dir/"
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { log "no archive of version $v in $dist"; exit 1; }
  cat >"$dist/terraform.tfrc" <<TFRC
# Installs nalabo/nalabo from the mirror that scripts/release.sh built; other providers
# from their registries.
provider_installation {
  filesystem_mirror {
    path    = "$dist/mirror"
    include = ["registry.terraform.io/nalabo/nalabo"]
  }
  direct {
    exclude = ["registry.terraform.io/nalabo/nalabo"]
  }
}
TFRC
  log "dist/mirror: nalabo/nalabo $v, $n platform(s); CLI configuration: $dist/terraform.tfrc"
}

case "${1:-}" in
goreleaser)
  ensure_goreleaser
  ;;
version)
  version
  ;;
snapshot)
  ensure_goreleaser
  v=$(version)
  run_goreleaser "$v"
  lay_out_mirror "$v"
  ;;
mirror)
  ensure_goreleaser
  v=$(version)
  run_goreleaser "$v" "$(go env GOOS)" "$(go env GOARCH)"
  lay_out_mirror "$v"
  ;;
*)
  sed -n '2,12p' "$0" >&2
  exit 2
  ;;
esac
