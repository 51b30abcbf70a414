#!/usr/bin/env bash
# make lint: every Go module of the repository (go vet through golangci-lint, gofmt and
# goimports, `go mod tidy -diff`) and every shell script (shellcheck). Exits non-zero
# on any finding; prints them all first.
#
# golangci-lint v$GOLANGCI_LINT_VERSION is built into $CACHE/bin when missing (go install
# from the module proxy, a few minutes cold). Its analysis cache lives in
# $CACHE/golangci-lint so that fresh clones and CI runs reuse it: the tools/testcluster
# and tools/vcluster modules are large. shellcheck comes from Debian
# (scripts/install-deps.sh).
#
#   scripts/lint.sh            everything
#   LINT_MODULES=". tools" scripts/lint.sh   only these modules (shellcheck still runs)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-/var/cache/nalabo}
GOLANGCI_LINT_VERSION=${GOLANGCI_LINT_VERSION:-2.15.0}
GOLANGCI_LINT="$CACHE/bin/golangci-lint"
export PATH="/usr/local/go/bin:$PATH"
export GOLANGCI_LINT_CACHE=${GOLANGCI_LINT_CACHE:-$CACHE/golangci-lint}
export CGO_ENABLED=0

log() { printf '[lint %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
failed=()

# --- golangci-lint, built once -------------------------------------------------
if ! "$GOLANGCI_LINT" version 2>/dev/null | grep -q "version $GOLANGCI_LINT_VERSION "; then
  log "building golangci-lint v$GOLANGCI_LINT_VERSION into $CACHE/bin (go install)"
  mkdir -p "$CACHE/bin"
  GOBIN="$CACHE/bin" GOFLAGS=-mod=mod nice -n 10 \
    go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$GOLANGCI_LINT_VERSION"
fi
mkdir -p "$GOLANGCI_LINT_CACHE"

# --- every Go module -------------------------------------------------------------
cd "$here"
if [ -n "${LINT_MODULES:-}" ]; then
  read -r -a modules <<<"$LINT_MODULES"
else
  mapfile -t modules < <(git ls-files -- '*go.mod' | xargs -n1 dirname | sort)
fi
for m in "${modules[@]}"; do
  log "module $m: go mod tidy -diff"
  if ! (cd "$m" && go mod tidy -diff); then
    failed+=("$m: go mod tidy -diff (run go mod tidy in $m)")
  fi
  if [ -z "$(cd "$m" && go list ./... 2>/dev/null)" ]; then
    log "module $m: no Go package (builds tools only), nothing for golangci-lint"
    continue
  fi
  log "module $m: golangci-lint run"
  # The repository's .golangci.yml, whatever the module.
  if [ "$m" = tools/testcluster ]; then
    # The Kubernetes module graph: analysed with the flags its binaries are built with
    # (tools/testcluster/lib/build.sh), so the dependencies' export data come from the
    # build cache instead of a second compile of the Kubernetes tree; and after the builds
    # (their lock: every build of this graph goes through tools/testcluster/lib/build.sh).
    lockdir=${TESTCLUSTER_CACHE_DIR:-$CACHE/k8s}
    mkdir -p "$lockdir"
    if ! (exec 9>"$lockdir/.build.lock" && flock 9 && cd "$m" &&
      GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly -buildvcs=false" nice -n 10 "$GOLANGCI_LINT" run --config "$here/.golangci.yml" ./...); then
      failed+=("$m: golangci-lint")
    fi
    continue
  fi
  if ! (cd "$m" && nice -n 10 "$GOLANGCI_LINT" run --config "$here/.golangci.yml" ./...); then
    failed+=("$m: golangci-lint")
  fi
done

# --- every shell script ----------------------------------------------------------
if ! command -v shellcheck >/dev/null 2>&1; then
  failed+=("shellcheck is not installed (scripts/install-deps.sh installs it)")
else
  # Shell scripts: *.sh and files with a shell shebang. examples/**/import.sh are
  # snippets quoted in the docs, not scripts.
  mapfile -t scripts < <(git ls-files | while read -r f; do
    case "$f" in
      examples/*) continue ;;
      *.sh) echo "$f" ;;
      *) [ -f "$f" ] && head -n1 "$f" 2>/dev/null | grep -qE '^#!.*\b(ba)?sh\b' && echo "$f" ;;
    esac
  done)
  log "shellcheck: ${#scripts[@]} scripts"
  # Deliberate in files owned by the test infrastructure (which may turn these into
  # inline directives): an awk program in single quotes, word-split package lists.
  declare -A excludes=([scripts/testcluster-up.sh]=SC2016)
  for f in "${scripts[@]}"; do
    if ! shellcheck -x ${excludes[$f]:+-e "${excludes[$f]}"} "$f"; then
      failed+=("$f: shellcheck")
    fi
  done
fi

if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
log "ok"
