#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Headless Chromium from Debian for the browser tests (Playwright drives it; no browser download).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "installing Debian's chromium for the browser tests..."
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: /usr/bin/chromium is missing; run 'sudo apt-get install chromium'" >&2
    exit 1
  fi
fi

# PostgreSQL on 127.0.0.1:5432 for the multi-worker and migration tests.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "error: PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }
fi

# Apps Script add-on tests run in Node's own test runner.
if [ -f apps_script/package.json ]; then
  (cd apps_script && npm ci --silent --no-audit --no-fund && npm test --silent)
fi

# Lint and type-check first: a style or type error fails the run like a failing test.
bash scripts/lint.sh

# Two processes (pytest-xdist): a test waits mostly on HTTP and child processes, so two of them share
# two cores well; worksteal keeps the long benchmark smoke test from leaving one process idle at the end.
# PYTEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist worksteal "$@"
