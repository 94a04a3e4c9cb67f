"""What every parallel data source shares: the `PairSet` type, language names, the one cleaning
rule, seeded sampling and held-out splits.

Every set is cleaned the same way (`clean_pairs`): whitespace stripped, empty sides and identical
sides dropped (an identical string gives a trivially perfect "match" and says nothing about a
shared semantic space), and each side kept unique, first occurrence wins, so retrieval@1 ("find
the translation among all candidates") has exactly one right answer.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

from ...errors import InputError
from ..paths import INSTALL_HINT

T = TypeVar("T")

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ru": "Russian",
    "pl": "Polish",
    "sv": "Swedish",
    "da": "Danish",
    "fi": "Finnish",
    "nb": "Norwegian",
    "hu": "Hungarian",
    "uk": "Ukrainian",
    "th": "Thai",
    "vi": "Vietnamese",
    "hi": "Hindi",
    "bn": "Bengali",
    "ms": "Malay",
    "et": "Estonian",
    "lt": "Lithuanian",
    "zh-hant": "Chinese (Traditional)",
    "es-mx": "Spanish (Mexico)",
    "en-gb": "English (UK)",
}

# The handwritten sets shipped inside the package (hubcore/data/pairs/).
PAIRS_DIR = Path(__file__).resolve().parent.parent / "pairs"

# Scripts written without spaces between words: "one word" there means a short run of letters.
NO_SPACE_LANGS = {"zh", "zh-hant", "ja", "th"}
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
ASCII_DIGIT = re.compile(r"[0-9]")
# Stage directions and glosses' asides: "[beep]", "(1 second of silence)", "(of people)".
ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)")

__all__ = ["ANNOTATION", "ASCII_DIGIT", "CJK", "INSTALL_HINT", "LANGUAGE_NAMES", "NO_SPACE_LANGS",
           "PAIRS_DIR", "PairSet", "clean_pairs", "describe_drops", "language_name", "sample_rows",
           "split_held_out"]


@dataclass
class PairSet:
    """Translation pairs (text in `lang_a`, text in `lang_b`) plus where they came from."""

    name: str
    lang_a: str
    lang_b: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""
    note: str = ""

    def __len__(self) -> int:
        return len(self.pairs)


def language_name(code: str) -> str:
    """Readable name of a language code ("es" -> "Spanish"); the code itself if unknown."""
    return LANGUAGE_NAMES.get(code, code)


def clean_pairs(raw: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], Counter]:
    """Strip, drop empty/identical pairs, keep each side unique; return pairs and drop counts."""
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    out: list[tuple[str, str]] = []
    dropped: Counter = Counter()
    for a, b in raw:
        a, b = " ".join(a.split()), " ".join(b.split())
        if not a or not b:
            dropped["empty"] += 1
        elif a.casefold() == b.casefold():
            dropped["identical"] += 1
        elif a in seen_a or b in seen_b:
            dropped["duplicate"] += 1
        else:
            seen_a.add(a)
            seen_b.add(b)
            out.append((a, b))
    return out, dropped


def describe_drops(dropped: Counter) -> str:
    """"dropped 3 duplicate, 2 empty" (or "nothing dropped") for a set's note."""
    parts = [f"{n:,} {why}" for why, n in sorted(dropped.items()) if n]
    return ("dropped " + ", ".join(parts)) if parts else "nothing dropped"


def sample_rows(items: Sequence[T], max_rows: int, seed: int = 0,
                what: str = "row") -> tuple[list[T], list[str]]:
    """At most `max_rows` items, a seeded random sample kept in the original order, and a note
    when sampling happened: the rule uploaded files follow (`hubcore.data.uploads`), so a
    built-in set and the same rows in a file give the same sample."""
    items = list(items)
    if len(items) <= max_rows:
        return items, []
    keep = sorted(random.Random(seed).sample(range(len(items)), max_rows))
    return [items[i] for i in keep], [f"Sampled {max_rows:,} of {len(items):,} {what}s (seed {seed})."]


def split_held_out(
    pairs: Sequence[T] | PairSet, fraction: float = 0.2, seed: int = 0
) -> tuple[list[T], list[T]]:
    """(kept, held_out): a seeded random split, each part in the original order.

    Used to fit a direction or projection on some pairs and evaluate it on pairs it never saw.
    """
    items: list[Any] = list(pairs.pairs if isinstance(pairs, PairSet) else pairs)
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"The held-out fraction must be at least 0 and below 1, got {fraction}.")
    n = len(items)
    n_held = round(n * fraction)
    if fraction > 0 and n >= 2:
        n_held = min(max(n_held, 1), n - 1)
    held = set(random.Random(seed).sample(range(n), n_held))
    kept_items = [item for i, item in enumerate(items) if i not in held]
    held_items = [item for i, item in enumerate(items) if i in held]
    return kept_items, held_items
