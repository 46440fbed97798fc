#!/usr/bin/env bash
# Set up and run the service locally on SQLite with the provider emulators and a seeded demo
# workspace. No credentials needed. Ctrl-C stops everything. Options (ports): python -m demo --help.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m demo "$@"
