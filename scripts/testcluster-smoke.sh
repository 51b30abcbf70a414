#!/usr/bin/env bash
# Smoke check of the running test cluster (scripts/testcluster-up.sh first): Pod Security
# refuses a privileged pod, a ResourceQuota is enforced, the workspace image runs and
# `kubectl get pods` inside it works with its service account through the kubernetes
# service IP, a Deployment of the httpd image answers on its service IP, and deleting the
# namespace completes. A Go test in tools/testcluster/smoke (client-go v0.37.2).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../tools/testcluster/lib/env.sh
. "$here/tools/testcluster/lib/env.sh"
export PATH=$PATH:/usr/local/go/bin
cd "$TC_MODULE_DIR"
# Same CGO_ENABLED and -trimpath as lib/build.sh, so client-go comes from the build cache.
TESTCLUSTER_REQUIRED=1 TESTCLUSTER_KUBECONFIG=$TESTCLUSTER_KUBECONFIG \
  CGO_ENABLED=0 go test -trimpath -count=1 -v "$@" ./smoke/
