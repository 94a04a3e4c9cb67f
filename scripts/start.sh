#!/usr/bin/env bash
# Install the dashboard, prepare the embedded default model (first run: about a minute), start it.
# Extra arguments go to `streamlit run`, e.g. --server.port 8600 or --server.address 0.0.0.0 (LAN).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements.txt
HUBCORE_SKIP_BROWSER=1 bash scripts/install-data.sh
python3 -m hubcore prepare
exec python3 -m streamlit run app/main.py "$@"
