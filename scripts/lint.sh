#!/usr/bin/env bash
# Lint and type-check (run by scripts/test.sh before the tests): ruff over the project, mypy over
# the whole server package: the sync engine in strict mode, the rest with check_untyped_defs
# (pyproject.toml holds both configurations).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "ruff..."
.venv/bin/ruff check .
echo "mypy server (server/sync strict)..."
.venv/bin/mypy server
