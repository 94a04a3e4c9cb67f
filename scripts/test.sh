#!/usr/bin/env bash
# Set up .venv with everything the tests need (Python packages, Debian Chromium, fonts, offline
# data, the converted embedded models), then run the whole suite.
# Extra arguments go to pytest, e.g. -m "not browser" or -k lens.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
exec .venv/bin/python -m pytest "$@"
