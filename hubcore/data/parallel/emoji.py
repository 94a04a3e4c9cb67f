"""Short concept labels of the same emoji in 25+ locales (npm `emojibase-data`, MIT): "dog" /
"perro" / "狗". Also the vision page's emoji images are labelled from here."""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ...errors import InputError
from ..paths import npm_package
from .common import ASCII_DIGIT, INSTALL_HINT, PairSet, clean_pairs, describe_drops, language_name

if TYPE_CHECKING:
    import pandas as pd


def emojibase_dir() -> Path:
    """The installed emojibase-data package (`HUBCORE_EMOJIBASE_DIR` overrides it)."""
    override = os.environ.get("HUBCORE_EMOJIBASE_DIR")
    if override:
        return Path(override)
    return npm_package("emojibase-data")


def emoji_locales() -> list[str]:
    """Locales with labels installed (empty when npm emojibase-data is missing)."""
    root = emojibase_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/compact.json"))


def has_emoji_locale(lang: str) -> bool:
    """True when the labels of `lang` are installed."""
    return (emojibase_dir() / lang / "compact.json").is_file()


@functools.lru_cache(maxsize=32)
def _read_locale(path: str) -> tuple[tuple[str, str, int | None], ...]:
    """(hexcode, label, group) in file order for one locale's compact.json."""
    with open(path, encoding="utf-8") as fh:
        entries = json.load(fh)
    return tuple(
        (str(e["hexcode"]), str(e.get("label") or "").strip(), e.get("group"))
        for e in entries
        if e.get("hexcode")
    )


def _load_locale(lang: str) -> tuple[tuple[str, str, int | None], ...]:
    root = emojibase_dir()
    if not (root / "en" / "compact.json").is_file():
        raise InputError(
            f"The emoji-label data (npm emojibase-data) is not installed in {root}: "
            f"{INSTALL_HINT}."
        )
    path = root / lang / "compact.json"
    if not path.is_file():
        raise InputError(
            f"There are no emoji labels for {lang!r}; "
            f"available locales: {', '.join(emoji_locales())}."
        )
    return _read_locale(str(path))


def emoji_labels(langs: Sequence[str]) -> "pd.DataFrame":
    """DataFrame: `hexcode` plus one label column per locale, rows labelled in every locale.

    Regional-indicator letters (no group) and skin-tone/hair components (group 2) are left out:
    they are building blocks, not concepts.
    """
    import pandas as pd

    langs = list(dict.fromkeys(langs))
    if not langs:
        raise InputError("Pick at least one language for the emoji labels.")
    tables = [_load_locale(lang) for lang in langs]
    labels = [{hexcode: label for hexcode, label, _ in table if label} for table in tables]
    rows = []
    for hexcode, _, group in tables[0]:
        if group is None or group == 2:
            continue
        if all(hexcode in lab for lab in labels):
            rows.append([hexcode] + [lab[hexcode] for lab in labels])
    return pd.DataFrame(rows, columns=["hexcode", *langs])


def emoji_pairs(lang_a: str, lang_b: str) -> PairSet:
    """Short concept labels ("dog" / "perro") for the same emoji in two locales."""
    if lang_a == lang_b:
        raise InputError("Pick two different languages for a parallel set.")
    table = emoji_labels([lang_a, lang_b])
    dropped: Counter = Counter()
    raw: list[tuple[str, str]] = []
    for a, b in zip(table[lang_a], table[lang_b], strict=True):
        if ASCII_DIGIT.search(a) or ASCII_DIGIT.search(b):  # "keycap: 10", "4:30 Uhr"
            dropped["with digits"] += 1
        else:
            raw.append((a, b))
    pairs, more = clean_pairs(raw)
    dropped.update(more)
    return PairSet(
        name=f"{language_name(lang_a)}–{language_name(lang_b)} (emoji labels)",
        lang_a=lang_a,
        lang_b=lang_b,
        pairs=pairs,
        source="npm emojibase-data (MIT)",
        note=f"{len(table):,} emoji labelled in both locales; {describe_drops(dropped)}.",
    )
