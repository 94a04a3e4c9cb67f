#!/usr/bin/env bash
# Offline data that ships in Debian and npm packages (idempotent; skips what is already there):
#   Debian asterisk-core-sounds-{en,es,fr}: human En/Es/Fr prompt transcripts (parallel corpus)
#   npm emojibase-data: short concept labels in 25+ languages, installed under .data/npm
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for lang in en es fr; do
  [ -f "/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" ] || need+=("asterisk-core-sounds-$lang")
done
[ -x /usr/bin/chromium ] || [ "${HUBCORE_SKIP_BROWSER:-0}" = 1 ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -f .data/npm/node_modules/emojibase-data/en/compact.json ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p .data/npm
    npm install --silent --no-audit --no-fund --prefix .data/npm emojibase-data@17.0.0
  else
    echo "warning: npm not found; the multilingual emoji-label data set will be unavailable" >&2
  fi
fi
