"""Steering prompt sets: sizes, uniqueness, determinism, and prefixes that end mid-sentence."""

from __future__ import annotations

import re

import pytest

from hubcore.scoring import sentiment
from hubcore.data import steering_prompts as sp
from hubcore.data.uploads import parse_texts
from hubcore.errors import InputError


@pytest.mark.parametrize(
    "load,min_n,lang", [(sp.spanish_prefixes, 120, "es"), (sp.english_prefixes, 40, "en")]
)
def test_written_prefixes_are_many_unique_open_and_neutral(load, min_n, lang):
    prefixes = load()
    assert len(prefixes) >= min_n and len(set(prefixes)) == len(prefixes)
    for p in prefixes:
        assert p == p.strip() and not sp.SENTENCE_END.search(p), p
    # Written to leave the sentiment open: this project's scorer finds none in them.
    assert sentiment.score(prefixes, lang) == [0.0] * len(prefixes)


def test_chinese_review_prefixes_are_short_openings_of_real_reviews():
    prefixes = sp.chinese_review_prefixes(60, seed=0)
    assert len(prefixes) == 60 and len(set(prefixes)) == 60
    for p in prefixes:
        assert sp.MIN_CHARS <= len(p) <= sp.MAX_CHARS, p
        assert not sp.SENTENCE_END.search(p), p
        assert not re.search(r"[A-Za-z0-9\s]", p), p
    openings = {}
    for label in ("pos", "neg"):
        heads = {re.sub(r"\s+", "", r)[: sp.MAX_CHARS] for r in sp._zh_reviews(label)}
        openings[label] = [p for p in prefixes if any(h.startswith(p) for h in heads)]
    # Half from positive, half from negative reviews (some openings occur in both files).
    assert len(openings["pos"]) >= 30 and len(openings["neg"]) >= 30
    assert set(openings["pos"]) | set(openings["neg"]) == set(prefixes)
    # Neutral-looking openings are preferred: plenty exist, so none of these is polar.
    assert not any(sp._is_polar(p) for p in prefixes)


def test_chinese_review_prefixes_are_seeded():
    a = sp.chinese_review_prefixes(20, seed=0)
    assert a == sp.chinese_review_prefixes(20, seed=0)
    assert a != sp.chinese_review_prefixes(20, seed=1)
    assert len(sp.chinese_review_prefixes(7, seed=2)) == 7


def test_review_prefix_cuts_at_a_comma_or_a_word_boundary():
    chars = list  # a character "segmenter" keeps this test independent of jieba
    assert sp.review_prefix("这家酒店的位置很方便，服务也很周到，下次还来。", chars) == "这家酒店的位置很方便，"
    assert sp.review_prefix("我们一家三口上周末在这里住了两个晚上", chars) == "我们一家三口上周末在这里"
    assert sp.review_prefix("很好。这家酒店的位置很方便，服务也很周到", chars) is None  # sentence end
    assert sp.review_prefix("太短了", chars) is None
    assert sp.review_prefix("The hotel was fine and the staff were friendly", chars) is None
    assert sp.review_prefix("二、电梯与住户共用仅两台，很不方便", chars) is None  # list item
    assert sp.review_prefix("这几天旅行中也在看《杜拉拉升职记》", chars) is None  # title cut


def test_prompt_set_by_name():
    assert set(sp.PROMPT_SETS) == {"zh-reviews", "es-prefixes", "en-prefixes"}
    assert {s.lang for s in sp.PROMPT_SETS.values()} <= set(sentiment.SUPPORTED_LANGUAGES)
    es = sp.prompt_set("es-prefixes", 10, seed=3)
    assert len(es) == 10 == len(set(es)) and set(es) <= set(sp.spanish_prefixes())
    assert es == sp.prompt_set("es-prefixes", 10, seed=3)
    assert es != sp.prompt_set("es-prefixes", 10, seed=4)
    assert sp.prompt_set("en-prefixes", 10_000) == sp.english_prefixes()
    assert sp.prompt_set("zh-reviews", 8, seed=5) == sp.chinese_review_prefixes(8, seed=5)
    with pytest.raises(InputError, match="Unknown prompt set 'fr-prefixes'"):
        sp.prompt_set("fr-prefixes", 5)
    with pytest.raises(InputError, match="positive whole number"):
        sp.prompt_set("es-prefixes", 0)


def test_uploaded_prefixes_are_read_by_the_shared_parser():
    data = "La comida del hotel\r\n\r\nEl tren de las 8 y\nLa comida del hotel\n".encode()
    texts, notes = parse_texts(data, "mine.txt")
    assert texts == ["La comida del hotel", "El tren de las 8 y"]
    assert notes == ["Removed 1 duplicate line."]
