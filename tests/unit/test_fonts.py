"""The scripts the default model emits have a font here (else the lens draws empty boxes).

Fontconfig is what Chromium and the PNG export use to find glyphs: for every script that at
least MIN_TOKENS vocabulary entries of Gemma-3-270M use (Devanagari, Kannada, Tamil, Thai,
Ethiopic…), its most frequent character must be covered by some installed font. Fonts come from
Debian's fonts-noto-core / fonts-noto-cjk / fonts-noto-color-emoji (scripts/install-data.sh).
"""

from __future__ import annotations

import collections
import subprocess
import unicodedata

import pytest

pytestmark = pytest.mark.default_model
MIN_TOKENS = 100
# name prefixes that are punctuation or symbol blocks rather than writing systems
NOT_SCRIPTS = {"LOWER", "ZERO", "RIGHT", "LEFT", "COMBINING", "MODIFIER", "BLACK", "WHITE", "BOX",
               "FULLWIDTH", "HALFWIDTH", "IDEOGRAPHIC", "MATHEMATICAL"}


def scripts_of(vocab) -> dict[str, str]:
    """script -> its most frequent character, for scripts used by >= MIN_TOKENS entries."""
    tokens: collections.Counter = collections.Counter()
    chars: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for piece in vocab:
        seen = set()
        for ch in piece:
            if ord(ch) < 0x250:  # Basic Latin .. Latin Extended-B: every font has them
                continue
            try:
                script = unicodedata.name(ch).split()[0]
            except ValueError:
                continue
            chars[script][ch] += 1
            seen.add(script)
        tokens.update(seen)
    return {s: chars[s].most_common(1)[0][0] for s, n in tokens.items() if n >= MIN_TOKENS and s not in NOT_SCRIPTS}


def test_every_script_of_the_default_vocabulary_has_a_font(default_model):
    scripts = scripts_of(default_model.tokenizer.get_vocab())
    assert {"CJK", "DEVANAGARI", "KANNADA", "ARABIC", "CYRILLIC", "THAI"} <= set(scripts)
    missing = []
    for script, ch in sorted(scripts.items()):
        fonts = subprocess.run(["fc-list", f":charset={ord(ch):x}", "family"], capture_output=True,
                               text=True, check=True).stdout.strip()
        if not fonts:
            missing.append(f"{script} ({ch!r} U+{ord(ch):04X})")
    assert not missing, "no installed font draws: " + ", ".join(missing) + " (run scripts/install-data.sh)"
