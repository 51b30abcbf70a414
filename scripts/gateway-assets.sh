#!/usr/bin/env bash
# Refreshes the gateway's vendored browser assets (internal/gateway/assets/vendor) from
# npm: @xterm/xterm and @xterm/addon-fit at the versions given (GNUmakefile pins them),
# with their licences. Only the built files are kept (no source maps).
set -euo pipefail
xterm=${XTERM_VERSION:?XTERM_VERSION}
fit=${XTERM_FIT_VERSION:?XTERM_FIT_VERSION}
here=$(cd "$(dirname "$0")/.." && pwd)
dest=$here/internal/gateway/assets/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@xterm/xterm@$xterm" "@xterm/addon-fit@$fit" >/dev/null)
mkdir -p "$tmp/xterm" "$tmp/fit"
tar xzf "$tmp/xterm-xterm-$xterm.tgz" -C "$tmp/xterm"
tar xzf "$tmp/xterm-addon-fit-$fit.tgz" -C "$tmp/fit"
rm -rf "$dest"
mkdir -p "$dest/xterm" "$dest/addon-fit"
cp "$tmp/xterm/package/lib/xterm.js" "$tmp/xterm/package/css/xterm.css" "$tmp/xterm/package/LICENSE" "$dest/xterm/"
cp "$tmp/fit/package/lib/addon-fit.js" "$tmp/fit/package/LICENSE" "$dest/addon-fit/"
# The built files point at source maps we do not ship.
sed -i '/^\/\/# sourceMappingURL=/d' "$dest/xterm/xterm.js" "$dest/addon-fit/addon-fit.js"
printf '@xterm/xterm %s\n@xterm/addon-fit %s\n' "$xterm" "$fit" > "$dest/VERSIONS"
echo "gateway-assets: @xterm/xterm $xterm, @xterm/addon-fit $fit in $dest"
