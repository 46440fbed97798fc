#!/usr/bin/env bash
# Lint and type-check (run by scripts/test.sh before the tests): ruff over the project, mypy over
# the sync engine in strict mode (pyproject.toml holds both configurations).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "ruff..."
.venv/bin/ruff check .
echo "mypy server/sync (strict)..."
.venv/bin/mypy server/sync
