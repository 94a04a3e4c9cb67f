#!/usr/bin/env bash
# Set up .venv (first run: a few minutes, including converting the embedded models), then start
# the dashboard on http://127.0.0.1:8501. Extra arguments go to `streamlit run`, e.g.
# --server.port 8600 or --server.address 0.0.0.0 (LAN).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh app
exec .venv/bin/python -m streamlit run app/main.py "$@"
