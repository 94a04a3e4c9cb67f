"""A long text's lens runs in layer groups (progress and Stop between them) with the very same
result as one trace over every layer."""

from __future__ import annotations

import torch

import hubcore.lens
from hubcore.lens import lens_at, layer_groups
from hubcore.tokens import encode


def test_layer_groups_cover_the_layers_in_order():
    assert layer_groups(range(19), positions=484, vocab=262_144) == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9],
                                                                   [10, 11], [12, 13], [14, 15], [16, 17], [18]]
    assert layer_groups(range(19), positions=4, vocab=262_144) == [list(range(19))]  # short text: one trace


def test_grouped_lens_equals_one_trace(tiny_model, monkeypatch):
    model = tiny_model("llama")
    encoded = encode(model.tokenizer, ["the cat sat on the mat and looked at the dog"])
    n = len(encoded[0])
    whole = lens_at(model, encoded, positions="all", top_k=3, target_ids=[5, 7])
    reports = []
    monkeypatch.setattr(hubcore.lens, "SPLIT_ELEMENTS", model.vocab * n)  # one layer per trace
    split = lens_at(model, encoded, positions="all", top_k=3, target_ids=[5, 7],
                    progress=lambda f, m: reports.append((f, m)))
    assert torch.equal(whole.top_ids, split.top_ids)
    assert torch.allclose(whole.top_logprobs, split.top_logprobs, atol=1e-6)
    assert torch.allclose(whole.target_logprobs, split.target_logprobs, atol=1e-6)
    n_layers = model.num_layers + 1
    assert len(reports) == n_layers + 1  # one per layer group, then the text's own
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[0][1].startswith("Lens: layers 0–0 of")
