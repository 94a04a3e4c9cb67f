"""Splitting text into words: jieba for Chinese (the paper's segmenter), longest lexicon match
for scripts written without spaces (Japanese, Thai, ...), a letters-only regex otherwise."""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

# languages that write without spaces: segment by longest lexicon match
NO_SPACE_LANGS = ("ja", "th", "lo", "km", "my")
_WORD_RE = re.compile(r"[^\W\d_]+")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


@dataclass(frozen=True)
class Segment:
    """A word of the text: character span [start, end)."""

    start: int
    end: int
    word: str


@lru_cache(maxsize=1)
def jieba_tokenizer() -> Any:
    """Our own jieba tokenizer: its cache in a temp dir of ours, its logging silenced."""
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


def base_lang(lang: str) -> str:
    return lang.lower().replace("_", "-").split("-")[0]


def segment(text: str, lang: str, lexicon: Optional[Mapping[str, Any]] = None) -> list[Segment]:
    """Candidate words of `text` (punctuation, digits and spaces are not words)."""
    if is_chinese(lang):
        return [
            Segment(s, e, w) for w, s, e in jieba_tokenizer().tokenize(text) if _CJK_RE.search(w)
        ]
    if base_lang(lang) in NO_SPACE_LANGS:
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
