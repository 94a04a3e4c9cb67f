"""Handwritten everyday sentences shipped with the package (hubcore/data/pairs/en_de.tsv and
en_ja.tsv, written for this project): the same English sentences in German and Japanese."""

from __future__ import annotations

from ...errors import InputError
from .common import PAIRS_DIR, PairSet, clean_pairs, describe_drops, language_name

BUNDLED: dict[str, str] = {"de": "en_de.tsv", "ja": "en_ja.tsv"}


def _read_bundled(filename: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    text = (PAIRS_DIR / filename).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise ValueError(f"{filename} line {number}: expected 2 tab-separated columns")
        rows.append((cells[0], cells[1]))
    return rows


def bundled_pairs(name: str) -> PairSet:
    """Handwritten everyday sentences shipped with the package, as (foreign, English).

    `name` is the language code ("de", "ja") or the file stem ("en_de", "en_ja").
    """
    key = name.strip().lower().replace("-", "_")
    parts = [part for part in key.split("_") if part != "en"]
    key = parts[0] if len(parts) == 1 else key
    key = {language_name(code).lower(): code for code in BUNDLED}.get(key, key)
    if key not in BUNDLED:
        known = ", ".join(f"en_{code}" for code in BUNDLED)
        raise InputError(f"There is no handwritten set called {name!r}; choose one of: {known}.")
    english_first = _read_bundled(BUNDLED[key])
    pairs, dropped = clean_pairs((foreign, english) for english, foreign in english_first)
    return PairSet(
        name=f"{language_name(key)}–English (handwritten)",
        lang_a=key,
        lang_b="en",
        pairs=pairs,
        source=f"hubcore/data/pairs/{BUNDLED[key]} (written for this project)",
        note=f"{len(english_first):,} sentence pairs; {describe_drops(dropped)}.",
    )
