#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian Chromium, CJK fonts, offline data) and
# run them.
# Extra arguments go to pytest, e.g. -m "not browser" or -k lens.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-data.sh
python3 -m pip install -q -r requirements-dev.txt
python3 -m hubcore prepare
exec python3 -m pytest "$@"
