"""Tokenisation helpers: batch planning, left padding, input checks, offsets."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hubcore.errors import InputError
from hubcore.tokens import MAX_TEXT_CHARS, check_text, encode, pad_left, plan_batches, token_texts


@settings(max_examples=300, deadline=None, database=None)
@given(lengths=st.lists(st.integers(min_value=1, max_value=300), max_size=60),
       budget=st.integers(min_value=1, max_value=2000))
def test_plan_batches_covers_each_index_once_within_budget(lengths, budget):
    batches = plan_batches(lengths, budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every index exactly once
    assert all(batches)  # no empty batch
    for batch in batches:
        padded = max(lengths[i] for i in batch) * len(batch)
        # a single text longer than the budget still gets its own batch
        assert padded <= budget or len(batch) == 1


@settings(max_examples=100, deadline=None, database=None)
@given(lengths=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30))
def test_plan_batches_large_budget_is_one_batch(lengths):
    assert len(plan_batches(lengths, max(lengths) * len(lengths))) == 1
    assert len(plan_batches(lengths, 0)) == len(lengths)


def test_plan_batches_empty():
    assert plan_batches([], 100) == []


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.lists(st.integers(min_value=1, max_value=999), max_size=12), min_size=1, max_size=6))
def test_pad_left_property(id_lists):
    out = pad_left(id_lists, pad_id=0)
    width = max(len(ids) for ids in id_lists)
    assert out["input_ids"].shape == out["attention_mask"].shape == out["position_ids"].shape
    assert out["input_ids"].shape == (len(id_lists), width)
    for row, ids in enumerate(id_lists):
        n = len(ids)
        assert out["input_ids"][row, width - n:].tolist() == list(ids)
        assert out["input_ids"][row, :width - n].eq(0).all()
        assert out["attention_mask"][row].tolist() == [0] * (width - n) + [1] * n
        assert out["position_ids"][row, width - n:].tolist() == list(range(n))
        assert (out["position_ids"][row] >= 0).all()


def test_pad_left_example():
    out = pad_left([[5, 6, 7], [8]], pad_id=9)
    assert out["input_ids"].tolist() == [[5, 6, 7], [9, 9, 8]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert out["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0]]
    assert out["input_ids"].dtype == torch.long


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n", "\x00\x00", " \x00 "])
def test_check_text_rejects_empty(text):
    with pytest.raises(InputError):
        check_text(text)


def test_check_text_rejects_oversized_and_non_strings():
    assert check_text("a" * MAX_TEXT_CHARS) == "a" * MAX_TEXT_CHARS
    with pytest.raises(InputError) as info:
        check_text("a" * (MAX_TEXT_CHARS + 1))
    assert f"{MAX_TEXT_CHARS:,}" in str(info.value)
    with pytest.raises(InputError):
        check_text("abcdef", max_chars=5)
    with pytest.raises(InputError):
        check_text(None)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        check_text(b"bytes")  # type: ignore[arg-type]


def test_check_text_strips_nul_and_keeps_text():
    assert check_text("a\x00b") == "ab"
    assert check_text("  hola  ") == "  hola  "


def test_encode_offsets_and_special_tokens(tiny_tokenizer):
    texts = ["The capital of France is Paris.", "法国的首都是巴黎。"]
    encoded = encode(tiny_tokenizer, texts)
    for text, enc in zip(texts, encoded):
        assert enc.ids == tiny_tokenizer(text)["input_ids"]
        assert enc.ids[0] == tiny_tokenizer.bos_token_id and len(enc) == len(enc.offsets)
        assert enc.offsets[0] == (0, 0)  # the special token
        spans = enc.offsets[1:]
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert all(a <= b for a, b in spans)
        assert all(spans[i][0] <= spans[i + 1][0] and spans[i][1] <= spans[i + 1][1]
                   for i in range(len(spans) - 1))
    with pytest.raises(InputError):
        encode(tiny_tokenizer, ["ok", ""])


def test_token_texts_roundtrip(tiny_tokenizer):
    text = "for i in range(10):\n    print(i)  # done"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = token_texts(tiny_tokenizer, ids)
    assert len(pieces) == len(ids) > 1
    assert "".join(pieces) == text  # leading spaces kept on each piece
    assert any(p.startswith(" ") for p in pieces)
