"""Chinese -> English HSK example sentences (PyPI `hsk-sentences-audio`, CC-BY-SA-4.0)."""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from ...errors import InputError
from .common import CJK, PairSet, clean_pairs, describe_drops


@functools.lru_cache(maxsize=1)
def hsk_sentences() -> tuple[dict[str, Any], ...]:
    """Every HSK sentence record of the package (loaded once)."""
    try:
        from hsk_sentences_audio import load_sentences
    except ImportError as exc:  # pragma: no cover - the package is a pinned requirement
        raise InputError(
            "The Chinese-English sentences are not installed: "
            "run `pip install hsk-sentences-audio`."
        ) from exc
    return tuple(load_sentences())


def hsk_translation(sentence: dict[str, Any]) -> str:
    """A sentence record's English translation ("" when it has none)."""
    return str((sentence.get("translation") or {}).get("en") or "").strip()


def is_placeholder(text: str) -> bool:
    """True for the stand-in translations some records carry instead of English."""
    # 80 sentences (HSK 5-6) ship with "placeholder" / "placeholder-p3" instead of a translation.
    return text.lower().startswith("placeholder")


def hsk_pairs(max_level: int | None = None) -> PairSet:
    """Chinese -> English HSK example sentences, optionally only levels 1..max_level."""
    sentences = hsk_sentences()
    levels = sorted({int(s["hsk_level"]) for s in sentences})
    if max_level is not None and not (levels[0] <= max_level <= levels[-1]):
        raise InputError(
            f"HSK level must be between {levels[0]} and {levels[-1]}, got {max_level}."
        )
    chosen = [s for s in sentences if max_level is None or int(s["hsk_level"]) <= max_level]
    dropped: Counter = Counter()
    raw: list[tuple[str, str]] = []
    for s in chosen:
        zh, en = str(s.get("chinese") or "").strip(), hsk_translation(s)
        if is_placeholder(en):
            dropped["placeholder translation"] += 1
        elif CJK.search(en):  # e.g. "The exam is近; prepare well." would leak the answer
            dropped["Chinese inside the English"] += 1
        else:
            raw.append((zh, en))
    pairs, more = clean_pairs(raw)
    dropped.update(more)
    top = max_level if max_level is not None else levels[-1]
    return PairSet(
        name="Chinese–English (HSK sentences)",
        lang_a="zh",
        lang_b="en",
        pairs=pairs,
        source="PyPI hsk-sentences-audio (CC-BY-SA-4.0)",
        note=f"{len(chosen):,} sentences (HSK {levels[0]}–{top}); {describe_drops(dropped)}.",
    )
