#!/usr/bin/env bash
# Set up .venv with everything the tests need (Python packages, Debian Chromium, fonts, offline
# data, the converted embedded models), then run the whole suite in two phases:
#   1. every tier but tests/browser on HUBCORE_TEST_WORKERS pytest-xdist workers (default 2: each
#      worker runs torch on one thread, so the two cores are both busy; a test file stays on one
#      worker, so its module fixtures are computed once);
#   2. tests/browser alone, one test at a time (a Streamlit server and Chromium per module, and
#      checks of what a user sees while a page streams that need the machine to themselves).
# Extra arguments go to pytest in both phases, e.g. -m "not browser" or -k lens; with a path
# (tests/unit) only the phase that holds it runs.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev || exit $?
workers="${HUBCORE_TEST_WORKERS:-2}"
paths=() opts=()
for a in "$@"; do
  if [ -e "${a%%::*}" ]; then paths+=("$a"); else opts+=("$a"); fi
done
browser=() rest=()
for p in "${paths[@]}"; do
  case "$p" in tests/browser*) browser+=("$p") ;; *) rest+=("$p") ;; esac
done
if [ ${#paths[@]} -eq 0 ]; then rest=(tests --ignore=tests/browser); browser=(tests/browser); fi
parallel=(); [ "$workers" -gt 1 ] && parallel=(-n "$workers" --dist loadfile)
rc=0 ran=0
if [ ${#rest[@]} -gt 0 ]; then
  .venv/bin/python -m pytest "${parallel[@]}" "${rest[@]}" "${opts[@]}"; r=$?
  [ $r -ne 5 ] && { ran=1; [ $r -ne 0 ] && rc=$r; }
fi
if [ ${#browser[@]} -gt 0 ]; then
  .venv/bin/python -m pytest "${browser[@]}" "${opts[@]}"; r=$?
  [ $r -ne 5 ] && { ran=1; [ $r -ne 0 ] && rc=$r; }
fi
[ $ran -eq 0 ] && { echo "no tests were selected" >&2; exit 5; }
exit $rc
