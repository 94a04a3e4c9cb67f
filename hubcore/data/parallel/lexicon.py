"""Single-word bilingual lexicons ("perro" -> "dog") for the anchoring test, built from the
other sources: emoji labels, one-word Asterisk prompts and, for Chinese, HSK per-word glosses
confirmed by the sentence's translation."""

from __future__ import annotations

import functools
import re
from collections import Counter, defaultdict

from ...errors import InputError
from .asterisk import ASTERISK_LANGS, asterisk_dir, asterisk_pairs
from .common import ANNOTATION, CJK, INSTALL_HINT, NO_SPACE_LANGS, language_name
from .emoji import emoji_pairs, emojibase_dir
from .hsk import hsk_sentences, hsk_translation, is_placeholder

# Words that are too grammatical to anchor anything; a lexicon entry mapping to them is noise.
_EN_STOP = {
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from", "and", "or",
    "but", "is", "are", "was", "were", "be", "been", "am", "as", "than", "that", "which", "s",
}
_EN_CAPITALISED = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", "english",
}
_EDGE_PUNCT = " .,!?¡¿;:\"'“”«»()…。、！？"


def single_word(text: str, lang: str) -> str | None:
    """The text as one normalised word, or None when it is a phrase, a number or a symbol."""
    word = text.strip().strip(_EDGE_PUNCT)
    if lang in NO_SPACE_LANGS:
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
    for sentence in hsk_sentences():
        english = hsk_translation(sentence)
        if is_placeholder(english):
            continue
        en_words = set(re.findall(r"[a-z]+", english.lower()))
        for token in sentence.get("tokens") or []:
            zh = single_word(str(token.get("word") or ""), "zh")
            if zh is None or not all(CJK.match(ch) for ch in zh):
                continue
            for sense in str(token.get("gloss_en") or "").split(";"):
                sense = ANNOTATION.sub(" ", sense).strip()
                if sense.startswith("to "):
                    sense = sense[3:]
                if not re.fullmatch(r"[a-z][a-z'-]*", sense):  # lower case: no proper nouns
                    continue
                if sense in _EN_STOP or sense == "be":
                    break  # a grammatical word ("是" -> "to be"): no content word to anchor
                en = single_word(sense, "en")
                if en is not None and _inflections(en.lower()) & en_words:
                    votes[zh][en] += 1
                    break
    return votes


@functools.lru_cache(maxsize=32)
def _lexicon(
    lang: str, target: str, emoji_dir: str, asterisk_root: str
) -> tuple[tuple[str, str], ...]:
    # the data folders are part of the cache key: tests point them elsewhere
    votes: dict[str, Counter] = defaultdict(Counter)
    order: dict[str, int] = {}
    sources = 0

    def add(src: str, tgt: str, weight: int = 1) -> None:
        a, b = single_word(src, lang), single_word(tgt, target)
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
            f"{INSTALL_HINT} for the emoji labels."
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
    items = _lexicon(lang, target, str(emojibase_dir()), str(asterisk_dir()))
    if not items:
        raise InputError(
            f"Found no single-word {language_name(lang)} -> {language_name(target)} translations."
        )
    return dict(items)
