"""Human-translated telephony prompts (Debian `asterisk-core-sounds-{en,es,fr}`, CC-BY-SA-3.0):
the same prompt ids in three languages, so any two give translation pairs. The audio package
reads the recordings of the same ids (`hubcore.audio.sounds`) with these transcripts."""

from __future__ import annotations

import functools
import gzip
import os
import re
from collections import Counter
from pathlib import Path

from ...errors import InputError
from .common import ANNOTATION, INSTALL_HINT, PairSet, clean_pairs, describe_drops, language_name

ASTERISK_LANGS = ("en", "es", "fr")
# Spelling-alphabet words differ by language ("foxtrot" vs "Francia"): not translations.
ASTERISK_SKIP_PREFIXES = ("phonetic/", "silence/")
_ELLIPSIS = re.compile(r"^(?:\.{2,}|…)\s*|\s*(?:\.{2,}|…)$")


def asterisk_dir() -> Path:
    """Where the Debian packages put their docs (`HUBCORE_ASTERISK_DIR` overrides it)."""
    return Path(os.environ.get("HUBCORE_ASTERISK_DIR", "/usr/share/doc"))


def asterisk_file(lang: str) -> Path:
    """The gzipped transcript list of one language."""
    return asterisk_dir() / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"


@functools.lru_cache(maxsize=8)
def _read_prompts(path: str) -> dict[str, str]:
    """id -> transcript; the first line wins when an id repeats (es lists digits/0 twice)."""
    prompts: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(";") or ":" not in line:
                continue
            key, text = line.split(":", 1)
            prompts.setdefault(key.strip(), text.strip())
    return prompts


def load_asterisk(lang: str) -> dict[str, str]:
    """Prompt id -> raw transcript for one of en/es/fr; `InputError` naming the package when
    it is missing."""
    if lang not in ASTERISK_LANGS:
        raise InputError(
            f"The Asterisk prompts exist in {', '.join(ASTERISK_LANGS)} only, not {lang!r}."
        )
    path = asterisk_file(lang)
    if not path.is_file():
        raise InputError(
            f"The {language_name(lang)} Asterisk transcripts are missing: install the Debian "
            f"package asterisk-core-sounds-{lang} (or {INSTALL_HINT})."
        )
    return _read_prompts(str(path))


def clean_prompt(text: str) -> str:
    """Drop stage directions ("[beep]", "(1 second of silence)") and leading/trailing ellipses."""
    text = " ".join(ANNOTATION.sub(" ", text).split())
    return _ELLIPSIS.sub("", text).strip()


def is_spelled_out(text: str) -> bool:
    """True for prompts that are only letters or digits ("a", "1", "N B S", "I A X")."""
    words = re.findall(r"\w+", text)
    return not words or all(len(w) == 1 or w.isdigit() for w in words)


def asterisk_pairs(lang_a: str, lang_b: str, min_words: int = 1) -> PairSet:
    """Human-translated telephony prompts shared by two of en/es/fr (same prompt ids).

    Prompts shorter than 3 characters, made only of letters/digits, stage directions and the
    spelling alphabet are skipped. `min_words` (both sides) can demand longer prompts: with
    min_words=3 about 210 es-en pairs remain (many prompts are single words like "thirty").
    """
    if lang_a == lang_b:
        raise InputError("Pick two different languages for a parallel set.")
    a_prompts, b_prompts = load_asterisk(lang_a), load_asterisk(lang_b)
    shared = sorted(set(a_prompts) & set(b_prompts))
    dropped: Counter = Counter()
    raw: list[tuple[str, str]] = []
    for key in shared:
        if key.startswith(ASTERISK_SKIP_PREFIXES):
            dropped["spelling alphabet/silence"] += 1
            continue
        a, b = clean_prompt(a_prompts[key]), clean_prompt(b_prompts[key])
        if len(a) < 3 or len(b) < 3 or is_spelled_out(a) or is_spelled_out(b):
            dropped["too short or spelled out"] += 1
        elif len(a.split()) < min_words or len(b.split()) < min_words:
            dropped[f"under {min_words} words"] += 1
        else:
            raw.append((a, b))
    pairs, more = clean_pairs(raw)
    dropped.update(more)
    return PairSet(
        name=f"{language_name(lang_a)}–{language_name(lang_b)} (Asterisk prompts)",
        lang_a=lang_a,
        lang_b=lang_b,
        pairs=pairs,
        source=f"Debian asterisk-core-sounds-{lang_a} / -{lang_b} transcripts (CC-BY-SA-3.0)",
        note=f"{len(shared):,} prompt ids in both languages; {describe_drops(dropped)}."
        + (" Spanish is written without accents." if "es" in (lang_a, lang_b) else ""),
    )
