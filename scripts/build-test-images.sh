#!/usr/bin/env bash
# Builds the images the tests and the demo use, offline (nothing is pulled):
#   nalabo-test/shell:1, nalabo-test/shell:2   busybox shell, /VERSION says 1 or 2
#   nalabo-test/healthy:1                      shell with a HEALTHCHECK that passes
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}
if ! file -L "$busybox" 2>/dev/null | grep -q static && ! ldd "$busybox" 2>&1 | grep -q "not a dynamic"; then
  echo "build-test-images: $busybox is not static; install busybox-static" >&2
  exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/testdata/images/shell/Dockerfile" "$ctx/Dockerfile"
cp "$busybox" "$ctx/busybox"
export DOCKER_BUILDKIT=0
docker build -q --build-arg VERSION=1 -t nalabo-test/shell:1 "$ctx" >/dev/null 2>&1 || docker build --build-arg VERSION=1 -t nalabo-test/shell:1 "$ctx"
docker build -q --build-arg VERSION=2 -t nalabo-test/shell:2 "$ctx" >/dev/null 2>&1 || docker build --build-arg VERSION=2 -t nalabo-test/shell:2 "$ctx"
cat >> "$ctx/Dockerfile" <<'DOCKERFILE'
HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD ["test", "-f", "/VERSION"]
DOCKERFILE
docker build -q --build-arg VERSION=1 -t nalabo-test/healthy:1 "$ctx" >/dev/null 2>&1 || docker build --build-arg VERSION=1 -t nalabo-test/healthy:1 "$ctx"
echo "build-test-images: nalabo-test/shell:1 nalabo-test/shell:2 nalabo-test/healthy:1"
