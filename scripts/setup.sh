#!/usr/bin/env bash
# Create the project virtual environment (.venv) and install into it: the pinned packages
# (requirements.txt, or requirements-dev.txt with "dev"), this project as an editable package
# (console script `hubcore`), and the offline data from Debian/npm (scripts/install-data.sh).
# Usage: bash scripts/setup.sh [app|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-app}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
req=requirements.txt; [ "$what" = dev ] && req=requirements-dev.txt
.venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
if [ "$what" = dev ]; then
  bash scripts/install-data.sh .venv/bin/python
else
  HUBCORE_SKIP_BROWSER=1 bash scripts/install-data.sh .venv/bin/python
fi
.venv/bin/python -m hubcore prepare
