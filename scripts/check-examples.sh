#!/usr/bin/env bash
# Checks every example: `terraform fmt -check`, then `terraform validate` against the
# provider built in ./bin (dev_overrides, no `terraform init`, nothing downloaded).
# Resource examples have no terraform block (tfplugindocs shows them as they are), so
# each is validated in a temporary copy with the required_providers block added.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/nalabo}
TERRAFORM=${TERRAFORM:-$CACHE/bin/terraform}
export CHECKPOINT_DISABLE=1
bin="$here/bin"
[ -x "$bin/terraform-provider-nalabo" ] || { echo "missing $bin/terraform-provider-nalabo: run make build" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/dev.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "nalabo/nalabo" = "$bin"
  }
  direct {}
}
TFRC
export TF_CLI_CONFIG_FILE="$tmp/dev.tfrc"

echo "terraform fmt -check examples"
"$TERRAFORM" fmt -check -recursive -diff "$here/examples"

failed=0
# Every directory of examples/ that holds a .tf file (a new example is checked without
# being listed here); examples/hcp-cohort validates without HCP access (its cloud block
# is commented out).
mapfile -t dirs < <(find "$here/examples" -name '*.tf' -not -path '*/.terraform/*' -printf '%h\n' | sort -u)
[ ${#dirs[@]} -gt 0 ] || { echo "no example found under $here/examples" >&2; exit 1; }
for dir in "${dirs[@]}"; do
  name=${dir#"$here/"}
  # The managed-cluster examples (EKS, AKS, GKE) call the clouds' registry modules and
  # providers, which `terraform validate` needs installed and nothing here may
  # download: fmt -check only (above). Their shared class, examples/managed/class, is
  # validated like every other example.
  case $name in
    examples/managed/eks | examples/managed/aks | examples/managed/gke)
      echo "fmt   $name (registry modules: not validated)"
      continue ;;
  esac
  copy="$tmp/$(echo "$name" | tr / _)"
  mkdir -p "$copy"
  cp -r "$dir"/. "$copy"/
  rm -rf "$copy/.terraform" "$copy"/terraform.tfstate*
  if ! grep -qs required_providers "$copy"/*.tf; then
    printf '%s\n' 'terraform {' '  required_providers {' '    nalabo = { source = "nalabo/nalabo" }' '  }' '}' >"$copy/zz_providers.tf"
  fi
  if out=$("$TERRAFORM" -chdir="$copy" validate -no-color 2>&1); then
    echo "ok    $name"
  else
    echo "FAIL  $name"
    echo "$out" | grep -v -i -E 'dev_overrides|provider development overrides|^ *- nalabo/nalabo|^ *$|skip terraform init|may not be able to|The following provider|to avoid unexpected|released version|published releases|these settings|Warning: Provider' | sed 's/^/      /'
    failed=1
  fi
done
exit "$failed"
