#!/usr/bin/env bash
# Installs Omniboard 2.16.1 (the real client our writes interoperate with) into a cache folder outside the
# repository, so CI pays the npm install once. Idempotent: a second call returns at once.
#   bash tests/omniboard.sh          # prints the cache folder on its last line
# OMNIDASH_OMNIBOARD_DIR overrides the folder (default /var/tmp/omnidash-omniboard-2.16.1).
# Exit status 0 when `node $DIR/node_modules/.bin/omniboard` is ready; non-zero (with the reason) otherwise.
set -euo pipefail

VERSION=2.16.1
DIR="${OMNIDASH_OMNIBOARD_DIR:-/var/tmp/omnidash-omniboard-$VERSION}"
BIN="$DIR/node_modules/.bin/omniboard"
STAMP="$DIR/.installed-$VERSION"

if [ -f "$STAMP" ] && [ -e "$BIN" ]; then
  echo "$DIR"
  exit 0
fi
for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "tests/omniboard.sh: $tool is not installed; the Omniboard interop tests will be skipped" >&2
    exit 1
  fi
done
mkdir -p "$DIR"
# A package.json of its own keeps npm from walking up to a parent project.
[ -f "$DIR/package.json" ] || echo '{"name": "omnidash-omniboard-cache", "private": true}' > "$DIR/package.json"
echo "== installing omniboard@$VERSION into $DIR (npm, once)" >&2
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error "omniboard@$VERSION" >&2)
if [ ! -e "$BIN" ]; then
  echo "tests/omniboard.sh: npm finished but $BIN is missing" >&2
  exit 1
fi
touch "$STAMP"
echo "$DIR"
