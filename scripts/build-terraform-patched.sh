#!/usr/bin/env bash
# Builds a Terraform CLI newer than the ones `go install` can build, for the release
# test's version matrix: $CACHE/bin/terraform-<major.minor> (make terraform-matrix).
#
# Terraform 1.9+ has replace directives in its go.mod (`go install ...@v1.12.2` refuses
# them), and from 1.12 the module zip served by the Go module proxy lacks the nested
# modules those directives point at: the remote-state backends (s3, gcs, azurerm, consul,
# cos, kubernetes, oss, pg, oci) and internal/legacy, which only those backends use. This
# script builds from the module zip with those backends left out of
# internal/backend/init (local, remote, cloud, http and inmem stay): the CLI is otherwise
# the release's own code. Enough for the release test (local state); never ship it.
#
#   scripts/build-terraform-patched.sh [VERSION]     default 1.12.2
set -euo pipefail
CACHE=${CACHE:-/var/cache/nalabo}
V=${1:-1.12.2}
export PATH="/usr/local/go/bin:$PATH" CGO_ENABLED=0
out="$CACHE/bin/terraform-${V%.*}"
if [ -x "$out" ]; then
  echo "reused $out ($("$out" version 2>/dev/null | head -n1))"
  exit 0
fi
src=$(go mod download -json "github.com/hashicorp/terraform@v$V" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "github.com/hashicorp/terraform@v$V: not in the module proxy" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src"/. "$work"/
chmod -R u+w "$work"
cd "$work"
missing=()
while read -r m; do
  [ -d "${m#*=}" ] || missing+=("${m%%=*}")
done < <(sed -n 's|^replace \(github.com/hashicorp/terraform/[^ ]*\) => \./\(.*\)$|\1=\2|p' go.mod)
for m in "${missing[@]}"; do
  go mod edit -dropreplace="$m" -droprequire="$m"
  alias=$(sed -n "s|^\t\([A-Za-z0-9_]*\) \"$m\"\$|\1|p" internal/backend/init/init.go)
  [ -z "$alias" ] || sed -i -e "\|\"$m\"\$|d" -e "/${alias}\.New()/d" internal/backend/init/init.go
done
if grep -rq --include='*.go' -E "\"github.com/hashicorp/terraform/internal/(legacy|backend/remote-state/(azure|consul|cos|gcs|kubernetes|oss|pg|s3|oci))\"" --exclude='*_test.go' . ; then
  echo "a left-out module is still imported" >&2
  exit 1
fi
echo "building Terraform v$V without: ${missing[*]}"
t=$(date +%s)
mkdir -p "$CACHE/bin"
nice -n 10 go build -trimpath -ldflags "-X github.com/hashicorp/terraform/version.dev=no" -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "built $out in $(($(date +%s) - t)) s: $("$out" version | head -n1)"
