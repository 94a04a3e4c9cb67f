"""Parallel (translation) pairs for the multilingual experiments, all offline.

Sources: HSK example sentences (PyPI `hsk-sentences-audio`, zh-en), the Asterisk telephony
prompt transcripts (Debian `asterisk-core-sounds-{en,es,fr}`, en-es-fr), emoji labels (npm
`emojibase-data`, 25+ locales) and two handwritten sets shipped here (en-de, en-ja).

Every set is cleaned the same way (`_clean_pairs`): whitespace stripped, empty sides and
identical sides dropped (an identical string gives a trivially perfect "match" and says nothing
about a shared semantic space), and each side kept unique, first occurrence wins, so
retrieval@1 ("find the translation among all candidates") has exactly one right answer.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

from ..errors import InputError
from .paths import INSTALL_HINT, npm_package

if TYPE_CHECKING:
    import pandas as pd

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

_DATA_DIR = Path(__file__).resolve().parent / "pairs"
_INSTALL_HINT = INSTALL_HINT

# Scripts written without spaces between words: "one word" there means a short run of letters.
_NO_SPACE_LANGS = {"zh", "zh-hant", "ja", "th"}
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ASCII_DIGIT = re.compile(r"[0-9]")


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


# ----------------------------------------------------------------------------- cleaning


def _clean_pairs(raw: Iterable[tuple[str, str]]) -> tuple[list[tuple[str, str]], Counter]:
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


def _describe_drops(dropped: Counter) -> str:
    parts = [f"{n:,} {why}" for why, n in sorted(dropped.items()) if n]
    return ("dropped " + ", ".join(parts)) if parts else "nothing dropped"


# ----------------------------------------------------------------------------- HSK (zh-en)


@functools.lru_cache(maxsize=1)
def _hsk_sentences() -> tuple[dict[str, Any], ...]:
    try:
        from hsk_sentences_audio import load_sentences
    except ImportError as exc:  # pragma: no cover - the package is a pinned requirement
        raise InputError(
            "The Chinese-English sentences are not installed: "
            "run `pip install hsk-sentences-audio`."
        ) from exc
    return tuple(load_sentences())


def _hsk_translation(sentence: dict[str, Any]) -> str:
    return str((sentence.get("translation") or {}).get("en") or "").strip()


def _is_placeholder(text: str) -> bool:
    # 80 sentences (HSK 5-6) ship with "placeholder" / "placeholder-p3" instead of a translation.
    return text.lower().startswith("placeholder")


def hsk_pairs(max_level: int | None = None) -> PairSet:
    """Chinese -> English HSK example sentences, optionally only levels 1..max_level."""
    sentences = _hsk_sentences()
    levels = sorted({int(s["hsk_level"]) for s in sentences})
    if max_level is not None and not (levels[0] <= max_level <= levels[-1]):
        raise InputError(
            f"HSK level must be between {levels[0]} and {levels[-1]}, got {max_level}."
        )
    chosen = [s for s in sentences if max_level is None or int(s["hsk_level"]) <= max_level]
    dropped: Counter = Counter()
    raw: list[tuple[str, str]] = []
    for s in chosen:
        zh, en = str(s.get("chinese") or "").strip(), _hsk_translation(s)
        if _is_placeholder(en):
            dropped["placeholder translation"] += 1
        elif _CJK.search(en):  # e.g. "The exam is近; prepare well." would leak the answer
            dropped["Chinese inside the English"] += 1
        else:
            raw.append((zh, en))
    pairs, more = _clean_pairs(raw)
    dropped.update(more)
    top = max_level if max_level is not None else levels[-1]
    return PairSet(
        name="Chinese–English (HSK sentences)",
        lang_a="zh",
        lang_b="en",
        pairs=pairs,
        source="PyPI hsk-sentences-audio (CC-BY-SA-4.0)",
        note=f"{len(chosen):,} sentences (HSK {levels[0]}–{top}); {_describe_drops(dropped)}.",
    )


# ----------------------------------------------------------------------------- Asterisk (en/es/fr)

ASTERISK_LANGS = ("en", "es", "fr")
# Spelling-alphabet words differ by language ("foxtrot" vs "Francia"): not translations.
_ASTERISK_SKIP_PREFIXES = ("phonetic/", "silence/")
_ANNOTATION = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_ELLIPSIS = re.compile(r"^(?:\.{2,}|…)\s*|\s*(?:\.{2,}|…)$")


def _asterisk_dir() -> Path:
    return Path(os.environ.get("HUBCORE_ASTERISK_DIR", "/usr/share/doc"))


def _asterisk_file(lang: str) -> Path:
    return _asterisk_dir() / f"asterisk-core-sounds-{lang}" / f"core-sounds-{lang}.txt.gz"


@functools.lru_cache(maxsize=8)
def _asterisk_prompts(path: str) -> dict[str, str]:
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


def _load_asterisk(lang: str) -> dict[str, str]:
    if lang not in ASTERISK_LANGS:
        raise InputError(
            f"The Asterisk prompts exist in {', '.join(ASTERISK_LANGS)} only, not {lang!r}."
        )
    path = _asterisk_file(lang)
    if not path.is_file():
        raise InputError(
            f"The {language_name(lang)} Asterisk transcripts are missing: install the Debian "
            f"package asterisk-core-sounds-{lang} (or {_INSTALL_HINT})."
        )
    return _asterisk_prompts(str(path))


def _clean_prompt(text: str) -> str:
    """Drop stage directions ("[beep]", "(1 second of silence)") and leading/trailing ellipses."""
    text = " ".join(_ANNOTATION.sub(" ", text).split())
    return _ELLIPSIS.sub("", text).strip()


def _is_spelled_out(text: str) -> bool:
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
    a_prompts, b_prompts = _load_asterisk(lang_a), _load_asterisk(lang_b)
    shared = sorted(set(a_prompts) & set(b_prompts))
    dropped: Counter = Counter()
    raw: list[tuple[str, str]] = []
    for key in shared:
        if key.startswith(_ASTERISK_SKIP_PREFIXES):
            dropped["spelling alphabet/silence"] += 1
            continue
        a, b = _clean_prompt(a_prompts[key]), _clean_prompt(b_prompts[key])
        if len(a) < 3 or len(b) < 3 or _is_spelled_out(a) or _is_spelled_out(b):
            dropped["too short or spelled out"] += 1
        elif len(a.split()) < min_words or len(b.split()) < min_words:
            dropped[f"under {min_words} words"] += 1
        else:
            raw.append((a, b))
    pairs, more = _clean_pairs(raw)
    dropped.update(more)
    return PairSet(
        name=f"{language_name(lang_a)}–{language_name(lang_b)} (Asterisk prompts)",
        lang_a=lang_a,
        lang_b=lang_b,
        pairs=pairs,
        source=f"Debian asterisk-core-sounds-{lang_a} / -{lang_b} transcripts (CC-BY-SA-3.0)",
        note=f"{len(shared):,} prompt ids in both languages; {_describe_drops(dropped)}."
        + (" Spanish is written without accents." if "es" in (lang_a, lang_b) else ""),
    )


# ----------------------------------------------------------------------------- emoji labels


def _emojibase_dir() -> Path:
    override = os.environ.get("HUBCORE_EMOJIBASE_DIR")
    if override:
        return Path(override)
    return npm_package("emojibase-data")


def emoji_locales() -> list[str]:
    """Locales with labels installed (empty when npm emojibase-data is missing)."""
    root = _emojibase_dir()
    if not root.is_dir():
        return []
    return sorted(p.parent.name for p in root.glob("*/compact.json"))


@functools.lru_cache(maxsize=32)
def _emoji_locale(path: str) -> tuple[tuple[str, str, int | None], ...]:
    """(hexcode, label, group) in file order for one locale's compact.json."""
    with open(path, encoding="utf-8") as fh:
        entries = json.load(fh)
    return tuple(
        (str(e["hexcode"]), str(e.get("label") or "").strip(), e.get("group"))
        for e in entries
        if e.get("hexcode")
    )


def _load_emoji_locale(lang: str) -> tuple[tuple[str, str, int | None], ...]:
    root = _emojibase_dir()
    if not (root / "en" / "compact.json").is_file():
        raise InputError(
            f"The emoji-label data (npm emojibase-data) is not installed in {root}: "
            f"{_INSTALL_HINT}."
        )
    path = root / lang / "compact.json"
    if not path.is_file():
        raise InputError(
            f"There are no emoji labels for {lang!r}; "
            f"available locales: {', '.join(emoji_locales())}."
        )
    return _emoji_locale(str(path))


def emoji_labels(langs: Sequence[str]) -> "pd.DataFrame":
    """DataFrame: `hexcode` plus one label column per locale, rows labelled in every locale.

    Regional-indicator letters (no group) and skin-tone/hair components (group 2) are left out:
    they are building blocks, not concepts.
    """
    import pandas as pd

    langs = list(dict.fromkeys(langs))
    if not langs:
        raise InputError("Pick at least one language for the emoji labels.")
    tables = [_load_emoji_locale(lang) for lang in langs]
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
        if _ASCII_DIGIT.search(a) or _ASCII_DIGIT.search(b):  # "keycap: 10", "4:30 Uhr"
            dropped["with digits"] += 1
        else:
            raw.append((a, b))
    pairs, more = _clean_pairs(raw)
    dropped.update(more)
    return PairSet(
        name=f"{language_name(lang_a)}–{language_name(lang_b)} (emoji labels)",
        lang_a=lang_a,
        lang_b=lang_b,
        pairs=pairs,
        source="npm emojibase-data (MIT)",
        note=f"{len(table):,} emoji labelled in both locales; {_describe_drops(dropped)}.",
    )


# ----------------------------------------------------------------------------- handwritten sets

BUNDLED: dict[str, str] = {"de": "en_de.tsv", "ja": "en_ja.tsv"}


def _read_bundled(filename: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    text = (_DATA_DIR / filename).read_text(encoding="utf-8")
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
    pairs, dropped = _clean_pairs((foreign, english) for english, foreign in english_first)
    return PairSet(
        name=f"{language_name(key)}–English (handwritten)",
        lang_a=key,
        lang_b="en",
        pairs=pairs,
        source=f"hubcore/data/pairs/{BUNDLED[key]} (written for this project)",
        note=f"{len(english_first):,} sentence pairs; {_describe_drops(dropped)}.",
    )


# ----------------------------------------------------------------------------- catalogue


def available_pair_sets(only_installed: bool = False) -> dict[str, Callable[[], PairSet]]:
    """Readable name -> zero-argument loader for every built-in set.

    Loaders raise `InputError` when their package is missing; `only_installed=True` leaves out
    sets whose files are absent so a picker offers only what works on this machine.
    """
    sets: dict[str, tuple[Callable[[], PairSet], Callable[[], bool]]] = {}

    def have_asterisk(*langs: str) -> Callable[[], bool]:
        return lambda: all(_asterisk_file(lang).is_file() for lang in langs)

    def have_emoji(*langs: str) -> Callable[[], bool]:
        return lambda: all((_emojibase_dir() / lang / "compact.json").is_file() for lang in langs)

    sets["Chinese–English (HSK sentences)"] = (hsk_pairs, lambda: True)
    for code in BUNDLED:
        sets[f"{language_name(code)}–English (handwritten)"] = (
            functools.partial(bundled_pairs, code),
            lambda: True,
        )
    for a, b in (("es", "en"), ("fr", "en"), ("es", "fr")):
        sets[f"{language_name(a)}–{language_name(b)} (Asterisk prompts)"] = (
            functools.partial(asterisk_pairs, a, b),
            have_asterisk(a, b),
        )
    for code in ("es", "fr", "de", "zh", "ja"):
        sets[f"{language_name(code)}–English (emoji labels)"] = (
            functools.partial(emoji_pairs, code, "en"),
            have_emoji(code, "en"),
        )
    return {name: load for name, (load, present) in sets.items() if not only_installed or present()}


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


# ----------------------------------------------------------------------------- bilingual lexicon

# Words that are too grammatical to anchor anything; a lexicon entry mapping to them is noise.
_EN_STOP = {
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "am",
    "as",
    "than",
    "that",
    "which",
    "s",
}
_EN_CAPITALISED = {
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "english",
}
_EDGE_PUNCT = " .,!?¡¿;:\"'“”«»()…。、！？"


def _single_word(text: str, lang: str) -> str | None:
    """The text as one normalised word, or None when it is a phrase, a number or a symbol."""
    word = text.strip().strip(_EDGE_PUNCT)
    if lang in _NO_SPACE_LANGS:
        if not (1 <= len(word) <= 4) or not all(ch.isalpha() and not ch.isascii() for ch in word):
            return None
    else:
        if len(word) < 2 or len(word.split()) != 1:
            return None
        if not word.replace("-", "").replace("'", "").isalpha():
            return None
    if lang == "de":  # German nouns are capitalised: keep the case as written
        return word
    word = word.lower()
    if lang == "en":
        if word in _EN_STOP or not re.search(r"[aeiouy]", word):  # "zzz" (emoji for sleep)
            return None
        if word in _EN_CAPITALISED:
            word = word.capitalize()
    return word


def _inflections(word: str) -> set[str]:
    forms = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing", word + "er"}
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return forms


def _hsk_gloss_votes() -> dict[str, Counter]:
    """zh word -> Counter of one-word English glosses confirmed by the sentence's translation.

    CC-CEDICT glosses list senses in dictionary order, and the first is often wrong for the
    sentence ("比" -> "Belgium", "古" -> "surname Gu"); taking the first one-word sense that also
    appears in the English translation keeps the lexicon honest.
    """
    votes: dict[str, Counter] = defaultdict(Counter)
    for sentence in _hsk_sentences():
        english = _hsk_translation(sentence)
        if _is_placeholder(english):
            continue
        en_words = set(re.findall(r"[a-z]+", english.lower()))
        for token in sentence.get("tokens") or []:
            zh = _single_word(str(token.get("word") or ""), "zh")
            if zh is None or not all(_CJK.match(ch) for ch in zh):
                continue
            for sense in str(token.get("gloss_en") or "").split(";"):
                sense = _ANNOTATION.sub(" ", sense).strip()
                if sense.startswith("to "):
                    sense = sense[3:]
                if not re.fullmatch(r"[a-z][a-z'-]*", sense):  # lower case: no proper nouns
                    continue
                if sense in _EN_STOP or sense == "be":
                    break  # a grammatical word ("是" -> "to be"): no content word to anchor
                en = _single_word(sense, "en")
                if en is not None and _inflections(en.lower()) & en_words:
                    votes[zh][en] += 1
                    break
    return votes


@functools.lru_cache(maxsize=32)
def _lexicon(
    lang: str, target: str, emoji_dir: str, asterisk_dir: str
) -> tuple[tuple[str, str], ...]:
    votes: dict[str, Counter] = defaultdict(Counter)
    order: dict[str, int] = {}
    sources = 0

    def add(src: str, tgt: str, weight: int = 1) -> None:
        a, b = _single_word(src, lang), _single_word(tgt, target)
        if a is None or b is None or a.casefold() == b.casefold():
            return  # identical words cannot show which language a layer "thinks" in
        votes[a][b] += weight
        order.setdefault(b, len(order))

    try:
        for a, b in emoji_pairs(lang, target).pairs:
            add(a, b)
        sources += 1
    except InputError:
        pass
    if lang in ASTERISK_LANGS and target in ASTERISK_LANGS:
        try:
            for a, b in asterisk_pairs(lang, target).pairs:
                add(a, b)
            sources += 1
        except InputError:
            pass
    if lang == "zh" and target == "en":
        for zh, counter in _hsk_gloss_votes().items():
            for en, n in counter.items():
                add(zh, en, n)
        sources += 1
    if not sources:
        raise InputError(
            f"No word lists cover {language_name(lang)} -> {language_name(target)}: "
            f"{_INSTALL_HINT} for the emoji labels."
        )
    lexicon = {
        src: max(counter, key=lambda w: (counter[w], -order[w])) for src, counter in votes.items()
    }
    return tuple(sorted(lexicon.items()))


def bilingual_lexicon(lang: str, target: str = "en") -> dict[str, str]:
    """Single-word `lang` -> `target` translations ("perro" -> "dog") for the anchoring test.

    Built from emoji labels where both sides are one word, one-word Asterisk prompts (en/es/fr)
    and, for Chinese, HSK per-word glosses confirmed by the sentence translation. When a word has
    several translations the most frequent wins. Words identical in both languages are dropped.
    """
    if lang == target:
        raise InputError("Pick a source language different from the target language.")
    items = _lexicon(lang, target, str(_emojibase_dir()), str(_asterisk_dir()))
    if not items:
        raise InputError(
            f"Found no single-word {language_name(lang)} -> {language_name(target)} translations."
        )
    return dict(items)
