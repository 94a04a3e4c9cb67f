#!/usr/bin/env bash
# Install everything the tests need (Python packages, Debian Chromium and CJK fonts) and run them.
# Extra arguments go to pytest, e.g. -m "not browser" or -k lens.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
python3 -m pip install -q -r requirements-dev.txt
python3 -m hubcore prepare
exec python3 -m pytest "$@"
