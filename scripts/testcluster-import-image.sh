#!/usr/bin/env bash
# Imports local Docker images into the running test cluster's containerd (namespace
# k8s.io), e.g. images a later harness built itself:
#   scripts/testcluster-import-image.sh nalabo-test/vcluster-syncer:v0.30.0 ...
# Pods then use them with imagePullPolicy: Never or IfNotPresent. Skips images already
# imported with the same ID. (At start-up, TESTCLUSTER_EXTRA_IMAGES does the same.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || { echo "usage: $0 IMAGE..." >&2; exit 2; }
exec "$here/tools/testcluster/lib/images.sh" import "$@"
