"""Arithmetic expressions of the paper's §3.2 and §4 (Wu et al., "The Semantic Hub Hypothesis").

The paper's set is every equation "a=b+c" and "a=b*c" with b in 1..99, c a single positive digit
and a <= 99: 846 additions and 277 multiplications, 1,123 in all. The prompt is the prefix
"a=b+" (answer c), and each expression has a verbalised twin ("five plus three") in several
languages. Number words come from num2words (en, es, fr, de, ja); num2words has no Chinese, so a
small verbaliser for 0..99 lives here.

§4's steering pair for an item: "<a> equals to <b+1> plus" (source) and "<a> equals to <b> plus"
(target), both in words; the difference of their hidden states should turn the answer c into c-1.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from ..errors import InputError

SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de", "ja", "zh")
OPS: tuple[str, ...] = ("+", "*")
MAX_VALUE = 99

LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "ja": "Japanese", "zh": "Chinese",
}

# Operator words per language ("five plus three", "cinco por tres", ...).
OP_WORDS: dict[str, dict[str, str]] = {
    "en": {"+": "plus", "*": "times"},
    "es": {"+": "más", "*": "por"},
    "fr": {"+": "plus", "*": "fois"},
    "de": {"+": "plus", "*": "mal"},
    "ja": {"+": "たす", "*": "かける"},
    "zh": {"+": "加", "*": "乘以"},
}

# "equals" as read in an equation ("eight equals five plus three").
EQUALS_WORDS: dict[str, str] = {
    "en": "equals", "es": "es igual a", "fr": "égale", "de": "ist gleich", "ja": "イコール", "zh": "等于",
}

# The §4 prompt's "equals to" (the paper's own English wording, kept verbatim).
EQUALS_TO_WORDS: dict[str, str] = {
    "en": "equals to", "es": "es igual a", "fr": "est égal à", "de": "ist gleich", "ja": "イコール", "zh": "等于",
}

# Languages written without spaces between words.
_NO_SPACE = frozenset({"ja", "zh"})

_ZH_DIGITS = "零一二三四五六七八九"
_EN_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _check_lang(lang: str) -> str:
    if lang not in SUPPORTED_LANGUAGES:
        raise InputError(
            f"Language '{lang}' is not supported for number words: choose one of "
            f"{', '.join(SUPPORTED_LANGUAGES)}."
        )
    return lang


def chinese_number(n: int) -> str:
    """Chinese reading of 0..99: 零, 七, 十, 十二, 二十, 四十二 (counting form, 二 not 两)."""
    if not 0 <= n <= MAX_VALUE:
        raise InputError(f"Chinese number words cover 0..{MAX_VALUE}, not {n}.")
    if n < 10:
        return _ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "十" if tens == 1 else _ZH_DIGITS[tens] + "十"
    return head + (_ZH_DIGITS[ones] if ones else "")


def number_words(n: int, lang: str = "en") -> str:
    """The number `n` (0..99) in words: 21 -> "twenty-one" / "veintiuno" / "einundzwanzig" / "二十一".

    Validation happens before the cache: 3.0 == 3 and True == 1 hash alike, so a cached call
    would otherwise accept them."""
    _check_lang(lang)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_VALUE:
        raise InputError(f"Number words cover the integers 0..{MAX_VALUE}, not {n!r}.")
    return _number_words(n, lang)


@lru_cache(maxsize=1024)
def _number_words(n: int, lang: str) -> str:
    if lang == "zh":
        return chinese_number(n)
    from num2words import num2words

    return num2words(n, lang=lang)


def _join(lang: str, parts: Sequence[str]) -> str:
    return ("" if lang in _NO_SPACE else " ").join(parts)


@dataclass(frozen=True)
class Expression:
    """The equation a = b op c; the paper prompts with "a=b op" and the answer is c."""

    a: int
    b: int
    c: int
    op: str = "+"

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise InputError(f"Unknown operator '{self.op}': use '+' or '*'.")
        got = self.b + self.c if self.op == "+" else self.b * self.c
        if got != self.a:
            raise InputError(f"{self.a}={self.b}{self.op}{self.c} is not a true equation.")

    @property
    def numeral(self) -> str:
        """The right-hand side in digits: "5+3"."""
        return f"{self.b}{self.op}{self.c}"

    @property
    def equation(self) -> str:
        """The whole equation: "8=5+3"."""
        return f"{self.a}={self.numeral}"

    @property
    def prefix(self) -> str:
        """The paper's prompt "8=5+"; the expected continuation is `answer`."""
        return f"{self.a}={self.b}{self.op}"

    @property
    def answer(self) -> int:
        """What follows `prefix`: c."""
        return self.c

    @property
    def value(self) -> int:
        """The value of the expression b op c (= a)."""
        return self.a

    def words(self, lang: str = "en") -> str:
        """The right-hand side in words: "five plus three", "cinco por tres", "五加三"."""
        _check_lang(lang)
        return _join(lang, [number_words(self.b, lang), OP_WORDS[lang][self.op], number_words(self.c, lang)])

    def words_equation(self, lang: str = "en") -> str:
        """The equation in words: "eight equals five plus three", "八等于五加三"."""
        _check_lang(lang)
        return _join(lang, [number_words(self.a, lang), EQUALS_WORDS[lang], self.words(lang)])

    def words_prefix(self, lang: str = "en") -> str:
        """The prompt in words: "eight equals five plus" (answer: `answer` in words)."""
        _check_lang(lang)
        return _join(lang, [number_words(self.a, lang), EQUALS_WORDS[lang], number_words(self.b, lang),
                            OP_WORDS[lang][self.op]])


@lru_cache(maxsize=1)
def _all() -> tuple[Expression, ...]:
    out: list[Expression] = []
    for op in OPS:
        for b in range(1, MAX_VALUE + 1):
            for c in range(1, 10):
                a = b + c if op == "+" else b * c
                if a <= MAX_VALUE:
                    out.append(Expression(a, b, c, op))
    return tuple(out)


def all_expressions(ops: Sequence[str] = OPS) -> list[Expression]:
    """Every a=b+c and a=b*c with b in 1..99, c in 1..9, a <= 99 (846 + 277 = 1,123 items)."""
    bad = [o for o in ops if o not in OPS]
    if bad:
        raise InputError(f"Unknown operator(s) {', '.join(map(repr, bad))}: use '+' and/or '*'.")
    return [e for e in _all() if e.op in ops]


def sample_expressions(n: int, seed: int = 0, ops: Sequence[str] = OPS) -> list[Expression]:
    """`n` distinct expressions drawn without replacement; the same (n, seed, ops) gives the same list."""
    pool = all_expressions(ops)
    if not pool:
        raise InputError("Choose at least one operator ('+' or '*').")
    if n < 1 or n > len(pool):
        raise InputError(f"Ask for between 1 and {len(pool)} expressions, not {n}.")
    return random.Random(seed).sample(pool, n)


def steering_prompts(expr: Expression, lang: str = "en") -> tuple[str, str]:
    """The paper's §4 pair (source, target) for `expr`, in words.

    ("<a> equals to <b+1> plus", "<a> equals to <b> plus"): adding source - target to the
    target's residual stream should move the answer c towards c-1. Only additions with
    b + 1 <= 99 have a pair.
    """
    _check_lang(lang)
    if expr.op != "+":
        raise InputError("Steering prompts are defined for additions (a=b+c) only.")
    if expr.b + 1 > MAX_VALUE:
        raise InputError(f"b+1 = {expr.b + 1} is beyond the number words this set covers (0..{MAX_VALUE}).")
    a = number_words(expr.a, lang)
    eq, plus = EQUALS_TO_WORDS[lang], OP_WORDS[lang]["+"]
    source = _join(lang, [a, eq, number_words(expr.b + 1, lang), plus])
    target = _join(lang, [a, eq, number_words(expr.b, lang), plus])
    return source, target


ANCHOR_KINDS: tuple[str, ...] = ("digits", "numerals", "words")


def anchor_words(kind: str = "digits", lang: str = "en") -> list[str]:
    """Figure 6's anchors. "digits": "0".."9" then "zero".."nine" (20); "numerals": "0".."9";
    "words": the ten digit words only (in `lang`)."""
    if kind not in ANCHOR_KINDS:
        raise InputError(f"Unknown anchor kind '{kind}': choose one of {', '.join(ANCHOR_KINDS)}.")
    _check_lang(lang)
    numerals = [str(i) for i in range(10)]
    words = list(_EN_DIGIT_WORDS) if lang == "en" else [number_words(i, lang) for i in range(10)]
    if kind == "numerals":
        return numerals
    if kind == "words":
        return words
    return numerals + words
