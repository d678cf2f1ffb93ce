#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotent), then runs the whole suite.
#   bash tests/run.sh [pytest args...]
# - Debian's chromium (browser tests; never `playwright install`)
# - FerretDB 1.24.2 built from the Go module proxy into $(go env GOPATH)/bin (cached there)
# - this package with its `test` extra
set -euo pipefail
cd "$(dirname "$0")/.."

FERRETDB_VERSION=v1.24.2
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

build_ferretdb() {
  # `go install ...@v1.24.2` builds, but the binary panics at start: the module zip lacks
  # build/version/version.txt ("Invalid build/version/version.txt file content"). So we build the
  # same module source with that file written, exactly as its own `task gen-version` would.
  local src work
  go mod download "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" || return 1
  src="$(go env GOMODCACHE)/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION"
  work="$(mktemp -d)"
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src" || return 1
  echo "$FERRETDB_VERSION" > "$work/src/build/version/version.txt"
  mkdir -p "$(dirname "$FERRETDB")"
  (cd "$work/src" && go build -o "$FERRETDB" ./cmd/ferretdb) || return 1
  rm -rf "$work"
}

if [ -z "${OMNIDASH_TEST_MONGO_URI:-}" ]; then
  if command -v go >/dev/null; then
    FERRETDB="$(go env GOPATH)/bin/ferretdb"
    # read the whole output first: `grep -q` would stop early and, under pipefail, fail the pipeline
    FOUND_VERSION="$("$FERRETDB" --version 2>/dev/null || true)"
    if [[ "$FOUND_VERSION" != *"version: $FERRETDB_VERSION"* ]]; then
      echo "== building FerretDB $FERRETDB_VERSION (Go module proxy)"
      build_ferretdb || echo "== FerretDB build failed (see above): the MongoDB tests will be skipped, saying why"
    fi
    export FERRETDB_BIN="$FERRETDB"
  else
    echo "== no Go toolchain: the MongoDB tests will be skipped, saying why (or set OMNIDASH_TEST_MONGO_URI)"
  fi
fi

if ! python -c "import sacred, playwright, hypothesis, waitress, flask_login, pytest_timeout" 2>/dev/null \
   || ! python -m pip show -q omnidash >/dev/null 2>&1; then
  echo "== installing omnidash with its test extra (pip)"
  python -m pip install -q -e ".[test]"
fi

# Lint what is committed (others' in-progress files in a shared tree are not CI's business). A lint
# failure fails CI (.ci/run sets OMNIDASH_STRICT_LINT=1) and only warns in a local run.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t PY_FILES < <(git ls-files '*.py')
else
  mapfile -t PY_FILES < <(find app components sacredlog tests benchmarks -name '*.py' 2>/dev/null)
fi
if [ "${#PY_FILES[@]}" -gt 0 ]; then
  echo "== ruff (${#PY_FILES[@]} tracked files)"
  if ! python -m ruff check "${PY_FILES[@]}"; then
    if [ "${OMNIDASH_STRICT_LINT:-0}" = 1 ]; then exit 1; fi
    echo "== ruff found problems (not fatal outside CI; OMNIDASH_STRICT_LINT=1 makes them fatal)"
  fi
fi

echo "== pytest"
set +e
python -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  # "no tests collected": a selection that matched nothing is a mistake, never a silent pass.
  echo "tests/run.sh: pytest collected no tests (check the arguments: $*)" >&2
  exit 1
fi
exit "$rc"
