#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the pinned requirements. Idempotent: says what it does,
# and does nothing when the requirements have not changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating the virtual environment .venv with $("$PYTHON" --version 2>&1) ($PYTHON)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements-installed
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: upgrading pip in .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  packages=$(grep -hEv '^[[:space:]]*(#|-r|$)' requirements.txt requirements-dev.txt | sed 's/[[:space:]]*#.*//' | tr '\n' ' ')
  echo "setup: installing into .venv from requirements.txt and requirements-dev.txt: $packages"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
  echo "setup: done"
else
  echo "setup: .venv is up to date with requirements.txt and requirements-dev.txt"
fi
