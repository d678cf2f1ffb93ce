#!/usr/bin/env bash
# mypy over the core, the store and sacredlog, as configured in pyproject.toml ([tool.mypy]):
#   bash tests/typecheck.sh [mypy args...]
# The repository's app/ installs as `omnidash` (an editable install maps it through an import hook, which
# mypy cannot follow), so mypy reads it through the link build/mypy/omnidash -> app (its mypy_path), made
# here; its messages name the files under app/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/mypy
ln -sfn ../../app build/mypy/omnidash
python -m mypy "$@" 2>&1 | sed 's#^build/mypy/omnidash/#app/#'
