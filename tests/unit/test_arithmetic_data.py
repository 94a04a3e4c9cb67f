"""The paper's arithmetic set (§3.2), number words in six languages, §4 steering prompts, anchors."""

from __future__ import annotations

import re

import pytest

from hubcore.data.arithmetic import (
    SUPPORTED_LANGUAGES,
    Expression,
    all_expressions,
    anchor_words,
    chinese_number,
    number_words,
    sample_expressions,
    steering_prompts,
)
from hubcore.errors import InputError


def test_counts_match_the_paper():
    exprs = all_expressions()
    adds = [e for e in exprs if e.op == "+"]
    muls = [e for e in exprs if e.op == "*"]
    assert (len(adds), len(muls), len(exprs)) == (846, 277, 1123)
    assert len(set(exprs)) == 1123
    assert len(all_expressions(ops=("+",))) == 846
    assert len(all_expressions(ops=("*",))) == 277
    for e in exprs:
        assert 1 <= e.b <= 99 and 1 <= e.c <= 9 and e.a <= 99


def test_prefix_and_answer_are_consistent():
    pattern = re.compile(r"^(\d+)=(\d+)([+*])$")
    for e in all_expressions():
        m = pattern.match(e.prefix)
        assert m, e.prefix
        a, b, op = int(m.group(1)), int(m.group(2)), m.group(3)
        assert (a, b, op) == (e.a, e.b, e.op)
        assert a == (b + e.answer if op == "+" else b * e.answer)
        assert e.value == a
        assert e.equation == e.prefix + str(e.c) == f"{a}={e.numeral}"
        assert eval(e.numeral) == e.value  # noqa: S307 - digits and one operator


def test_expression_examples_and_validation():
    e = Expression(8, 5, 3, "+")
    assert (e.numeral, e.equation, e.prefix, e.value, e.answer) == ("5+3", "8=5+3", "8=5+", 8, 3)
    m = Expression(42, 6, 7, "*")
    assert (m.numeral, m.prefix) == ("6*7", "42=6*")
    with pytest.raises(InputError):
        Expression(9, 5, 3, "+")
    with pytest.raises(InputError):
        Expression(2, 5, 3, "-")


@pytest.mark.parametrize(
    "lang,n,want",
    [
        ("en", 21, "twenty-one"), ("en", 0, "zero"),
        ("es", 21, "veintiuno"), ("es", 16, "dieciséis"), ("es", 42, "cuarenta y dos"),
        ("fr", 21, "vingt et un"), ("fr", 80, "quatre-vingts"), ("fr", 71, "soixante et onze"),
        ("de", 21, "einundzwanzig"), ("de", 1, "eins"), ("de", 99, "neunundneunzig"),
        ("ja", 42, "四十二"), ("ja", 10, "十"),
        ("zh", 42, "四十二"), ("zh", 10, "十"), ("zh", 15, "十五"), ("zh", 7, "七"), ("zh", 0, "零"),
        ("zh", 12, "十二"), ("zh", 20, "二十"), ("zh", 99, "九十九"), ("zh", 2, "二"),
    ],
)
def test_number_words(lang, n, want):
    assert number_words(n, lang) == want


def test_chinese_covers_0_to_99_without_gaps():
    seen = {chinese_number(n) for n in range(100)}
    assert len(seen) == 100
    assert all(set(w) <= set("零一二三四五六七八九十") for w in seen)
    assert all("零" not in chinese_number(n) for n in range(1, 100))  # 二十, not 二十零


def test_number_words_reject_bad_input():
    for bad in (-1, 100, 3.0, True):
        with pytest.raises(InputError):
            number_words(bad, "en")
    with pytest.raises(InputError):
        number_words(3, "xx")


@pytest.mark.parametrize(
    "lang,add,mul,eq",
    [
        ("en", "five plus three", "six times seven", "eight equals five plus three"),
        ("es", "cinco más tres", "seis por siete", "ocho es igual a cinco más tres"),
        ("fr", "cinq plus trois", "six fois sept", "huit égale cinq plus trois"),
        ("de", "fünf plus drei", "sechs mal sieben", "acht ist gleich fünf plus drei"),
        ("ja", "五たす三", "六かける七", "八イコール五たす三"),
        ("zh", "五加三", "六乘以七", "八等于五加三"),
    ],
)
def test_expression_words(lang, add, mul, eq):
    e, m = Expression(8, 5, 3, "+"), Expression(42, 6, 7, "*")
    assert e.words(lang) == add
    assert m.words(lang) == mul
    assert e.words_equation(lang) == eq


def test_every_expression_verbalises_in_every_language():
    for lang in SUPPORTED_LANGUAGES:
        words = {e.words(lang) for e in all_expressions()}
        assert len(words) == 1123  # no two expressions read the same


def test_sampling_is_deterministic():
    a = sample_expressions(30, seed=3)
    assert a == sample_expressions(30, seed=3)
    assert a != sample_expressions(30, seed=4)
    assert len(set(a)) == 30
    adds = sample_expressions(50, seed=0, ops=("+",))
    assert all(e.op == "+" for e in adds)
    assert sorted(sample_expressions(1123, seed=1), key=str) == sorted(all_expressions(), key=str)
    for bad in (0, 1124):
        with pytest.raises(InputError):
            sample_expressions(bad)
    with pytest.raises(InputError):
        sample_expressions(5, ops=("-",))


def test_steering_prompts():
    e = Expression(8, 5, 3, "+")
    assert steering_prompts(e) == ("eight equals to six plus", "eight equals to five plus")
    assert steering_prompts(e, "zh") == ("八等于六加", "八等于五加")
    assert steering_prompts(e, "es") == ("ocho es igual a seis más", "ocho es igual a cinco más")
    assert steering_prompts(Expression(30, 21, 9), "de") == (
        "dreißig ist gleich zweiundzwanzig plus", "dreißig ist gleich einundzwanzig plus")
    with pytest.raises(InputError):
        steering_prompts(Expression(42, 6, 7, "*"))


def test_anchor_words():
    anchors = anchor_words()
    assert len(anchors) == 20 and len(set(anchors)) == 20
    assert anchors[:10] == [str(i) for i in range(10)]
    assert anchors[10:] == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert anchor_words("numerals") == anchors[:10]
    assert anchor_words("words", lang="zh") == list("零一二三四五六七八九")
    with pytest.raises(InputError):
        anchor_words("colours")
