"""The local lens runs its head in vocabulary blocks (issue 17): the same readings as the row-chunked
reduction, for every field (top-k, targets, language mixes, per-position own targets), across
families (Gemma 2's soft-capping included) and block sizes that do not divide the vocabulary."""

from __future__ import annotations

import pytest
import torch

import hubcore.lens as lens_mod
from hubcore.lens import lens_at, vocab_block
from hubcore.tokens import encode

TEXTS = ["the cat sat on the mat and looked at the dog", "numbers = [1, 2, 3]", "hello"]


def _both(model, monkeypatch, block_elements, **kwargs):
    enc = encode(model.tokenizer, TEXTS)
    monkeypatch.setattr(lens_mod, "VOCAB_BLOCK", block_elements)
    blocked = lens_at(model, enc, **kwargs)
    monkeypatch.setattr(lens_mod, "VOCAB_BLOCK", 0)
    chunked = lens_at(model, enc, **kwargs)
    return blocked, chunked


@pytest.mark.parametrize("family", ["llama", "gemma2", "gemma3_text", "opt", "granite"])
@pytest.mark.parametrize("block_elements", [1, 7 * 1000, 1 << 30])  # 128-row blocks, uneven blocks, one block
def test_blocked_lens_equals_row_chunked(tiny_model, monkeypatch, family, block_elements):
    model = tiny_model(family)
    enc = encode(model.tokenizer, TEXTS)
    n = sum(len(e) for e in enc)
    mix = torch.rand(model.vocab, 3, generator=torch.Generator().manual_seed(0))
    own = [[[(7 * i + 3 * j) % model.vocab, model.vocab - 1 - j] for j in range(len(e))] for i, e in enumerate(enc)]
    calls = []
    real = lens_mod.lens_reduce_blocked
    monkeypatch.setattr(lens_mod, "lens_reduce_blocked", lambda *a, **k: calls.append(a[9]) or real(*a, **k))
    blocked, chunked = _both(model, monkeypatch, block_elements, positions="all", top_k=6,
                             target_ids=[0, 5, model.vocab - 1, 300], mix=mix, own_targets=own)
    assert calls and all(c < model.vocab for c in calls) == (block_elements < 1 << 30)
    assert all(c == max(128, min(model.vocab, block_elements // n)) for c in calls)
    assert torch.equal(blocked.top_ids[..., 0], chunked.top_ids[..., 0])
    for a, b in ((blocked.top_logprobs, chunked.top_logprobs), (blocked.target_logprobs, chunked.target_logprobs),
                 (blocked.mixed, chunked.mixed), (blocked.own, chunked.own)):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)


def test_blocking_is_the_same_locally_and_remotely(tiny_model):
    model = tiny_model("llama")
    assert vocab_block(model, 10) > 0
    # the remote path blocks the same way, so a dry run reads exactly what a local run reads
    assert vocab_block(model.variant("local"), 10) == vocab_block(model, 10)
