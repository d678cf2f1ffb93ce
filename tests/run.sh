#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotent), then runs the whole suite.
#   bash tests/run.sh [pytest args...]
# - Debian's chromium (browser tests; never `playwright install`)
# - the MongoDB test server kit (../shared/testdb: FerretDB 2.5 + PostgreSQL 15/DocumentDB), unless
#   OMNIDASH_TEST_MONGO_URI names a MongoDB
# - this package with its `test` extra
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

# The MongoDB test server: FerretDB 2.5 on PostgreSQL 15 + DocumentDB, from the testdb kit (idempotent: about
# 4 minutes the first time, a second after). OMNIDASH_TEST_MONGO_URI names another MongoDB instead.
KIT="${OMNIDASH_TESTDB_KIT:-$(pwd)/../shared/testdb}"
# The kit's own check ends in `ferretdb --version | grep -q "version: ..."` under pipefail: when grep finds
# the line it exits at once and ferretdb may die of SIGPIPE, so 141 also means "installed" (a missing or
# wrong version exits 1).
kit_ready() { local rc=0; bash "$KIT/install.sh" --check >/dev/null 2>&1 || rc=$?; [ "$rc" = 0 ] || [ "$rc" = 141 ]; }
if [ -z "${OMNIDASH_TEST_MONGO_URI:-}" ]; then
  if [ ! -f "$KIT/install.sh" ]; then
    echo "== no testdb kit at $KIT and no OMNIDASH_TEST_MONGO_URI: the MongoDB tests will be skipped, saying why"
  elif kit_ready; then
    echo "== testdb kit: installed ($KIT)"
  else
    echo "== installing the testdb kit ($KIT; about 4 minutes the first time)"
    bash "$KIT/install.sh" || true  # its exit status has the same SIGPIPE flake: judged by the check below
    kit_ready || echo "== testdb kit install failed (see above): the MongoDB tests will be skipped, saying why"
  fi
fi

# Omniboard 2.16.1 (npm), the live client of tests/test_omniboard_interop.py, cached outside the repository
# ($OMNIDASH_OMNIBOARD_DIR, default /var/tmp/omnidash-omniboard-2.16.1): about 3 minutes once, instant after.
# Without node/npm the interop tests are skipped, saying why.
bash tests/omniboard.sh >/dev/null || echo "== Omniboard not installed (see above): its interop tests will be skipped"

if ! python -c "import sacred, playwright, hypothesis, waitress, flask_login, pytest_timeout, mypy" 2>/dev/null \
   || ! python -m pip show -q omnidash >/dev/null 2>&1 || ! python -m pip show -q pandas-stubs >/dev/null 2>&1; then
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

# Types of the core, the store and sacredlog (mypy, configured in pyproject.toml), fatal or a warning like ruff.
echo "== mypy (omnidash.core, omnidash.store, sacredlog)"
if ! bash tests/typecheck.sh; then
  if [ "${OMNIDASH_STRICT_LINT:-0}" = 1 ]; then exit 1; fi
  echo "== mypy found problems (not fatal outside CI; OMNIDASH_STRICT_LINT=1 makes them fatal)"
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
