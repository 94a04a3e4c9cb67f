"""Capture API: positions, layers, batching and order (tiny model), and the real default model."""

from __future__ import annotations

import pytest
import torch

from hubcore.errors import InputError
from hubcore.tokens import encode, plan_batches
from hubcore.trace import DEFAULT_TOKEN_BUDGET, Capture, capture, capture_encoded, capture_last

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "法国的首都是巴黎。",
    "x = 1",
    "La capital de Francia es París. La capital de España es Madrid.",
]

# Varied inputs for the real model: Chinese, Spanish, code, arithmetic, English, French.
VARIED = [
    "今天是开心的一天,我们去公园散步吧。",
    "El perro de mi vecino es muy simpático y le gusta correr.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "17 + 25 = 42, 8 * 7 = 56, 100 - 1 =",
    "The capital of France is",
    "Le chat dort sur le canapé.",
]


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1)


# ----------------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module")
def llama(tiny_model):
    return tiny_model("llama")


def test_results_come_back_in_input_order_whatever_the_batching(llama):
    full = capture(llama, TEXTS, positions="all")
    # budget 1: every text in its own batch (longest first), so order must be restored
    split = capture(llama, TEXTS, positions="all", token_budget=1)
    lengths = [len(e) for e in full.encoded]
    for i in range(len(TEXTS)):
        assert full.states[i].shape[0] == lengths[i]
        assert full.encoded[i].ids == llama.tokenizer(TEXTS[i])["input_ids"]
        torch.testing.assert_close(full.states[i], split.states[i], atol=1e-4, rtol=0)


def test_positions_as_index_lists(llama):
    full = capture(llama, TEXTS[:3], positions="all")
    picks = [[0, -1], [-2, 1, 0], [2]]
    cap = capture(llama, TEXTS[:3], positions=picks)
    for i, idx in enumerate(picks):
        n = len(full.encoded[i])
        norm = [p + n if p < 0 else p for p in idx]
        assert cap.positions[i] == norm
        assert cap.states[i].shape == (len(idx), llama.num_layers + 1, llama.hidden_size)
        torch.testing.assert_close(cap.states[i], full.states[i][norm], atol=1e-5, rtol=0)


@pytest.mark.parametrize("bad", [[[0], [99]], [[0], [-99]], [[0]], "first"])
def test_bad_positions_raise_input_error(llama, bad):
    with pytest.raises(InputError):
        capture(llama, TEXTS[:2], positions=bad)


def test_layer_subset(llama):
    L = llama.num_layers
    full = capture(llama, TEXTS, positions="all")
    for layers in ([0], [L], [2, 1, 2]):
        cap = capture(llama, TEXTS, positions="all", layers=layers)
        assert cap.layers == sorted(set(layers))
        for i in range(len(TEXTS)):
            assert cap.states[i].shape[1] == len(cap.layers)
            torch.testing.assert_close(cap.states[i], full.states[i][:, cap.layers], atol=1e-5, rtol=0)


@pytest.mark.parametrize("layers", [[-1], [4], []])
def test_bad_layers_raise_input_error(llama, layers):
    assert llama.num_layers == 3
    with pytest.raises(InputError):
        capture(llama, TEXTS[:1], layers=layers)


def test_no_texts_or_empty_text_raise_input_error(llama):
    with pytest.raises(InputError):
        capture(llama, [])
    with pytest.raises(InputError):
        capture(llama, ["fine", "   "])


def test_capture_last_and_stacked(llama):
    out = capture_last(llama, TEXTS)
    assert tuple(out.shape) == (len(TEXTS), llama.num_layers + 1, llama.hidden_size)
    full = capture(llama, TEXTS, positions="all")
    for i in range(len(TEXTS)):
        torch.testing.assert_close(out[i], full.states[i][-1], atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        Capture(states=full.states, positions=full.positions, encoded=full.encoded, layers=full.layers).stacked()


def test_capture_encoded_reports_progress(llama):
    seen: list[float] = []
    enc = encode(llama.tokenizer, TEXTS)
    capture_encoded(llama, enc, token_budget=1, progress=lambda f, m: seen.append(f))
    assert len(seen) == len(TEXTS)  # one report per batch
    assert seen == sorted(seen) and seen[-1] == 1.0


# ----------------------------------------------------------------------------- default model


@pytest.mark.default_model
def test_default_batched_equals_one_at_a_time(default_model):
    batched = capture(default_model, VARIED, positions="all")
    lengths = [len(e) for e in batched.encoded]
    assert len(set(lengths)) == len(VARIED)  # all different: real left padding
    assert plan_batches(lengths, DEFAULT_TOKEN_BUDGET) == [sorted(range(len(VARIED)), key=lambda i: -lengths[i])]
    for i, text in enumerate(VARIED):
        single = capture(default_model, [text], positions="all").states[0]
        assert batched.states[i].shape == single.shape
        for layer in range(default_model.num_layers + 1):
            a, b = batched.states[i][:, layer], single[:, layer]
            assert _rel_err(a, b) <= 1e-4, (text, layer, _rel_err(a, b))
            assert _cosine(a, b).min() >= 1 - 1e-5, (text, layer)


@pytest.mark.default_model
def test_default_single_layer_capture_equals_full(default_model):
    full = capture(default_model, VARIED[:3], positions="all")
    three = capture(default_model, VARIED[:3], positions="all", layers=[3])
    assert three.layers == [3]
    for i in range(3):
        assert three.states[i].shape == (len(full.encoded[i]), 1, default_model.hidden_size)
        a, b = three.states[i][:, 0], full.states[i][:, 3]
        assert _rel_err(a, b) <= 1e-5
        # and it is not some other layer
        assert _rel_err(full.states[i][:, 4], b) > 1e-3


@pytest.mark.default_model
def test_default_positions_index_lists(default_model):
    texts = VARIED[:2]
    full = capture(default_model, texts, positions="all")
    cap = capture(default_model, texts, positions=[[-1, 0], [1, -3]])
    for i, idx in enumerate([[-1, 0], [1, -3]]):
        n = len(full.encoded[i])
        norm = [p + n if p < 0 else p for p in idx]
        assert cap.positions[i] == norm
        for layer in range(default_model.num_layers + 1):
            assert _rel_err(cap.states[i][:, layer], full.states[i][norm, layer]) <= 1e-4


@pytest.mark.default_model
def test_default_capture_last_shape(default_model):
    out = capture_last(default_model, VARIED)
    L, d = default_model.num_layers, default_model.hidden_size
    assert (L, d) == (18, 640)
    assert tuple(out.shape) == (len(VARIED), L + 1, d)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    full = capture(default_model, VARIED, positions="all")
    for i in range(len(VARIED)):
        for layer in range(L + 1):
            assert _rel_err(out[i, layer], full.states[i][-1, layer]) <= 1e-4


def test_captured_states_are_ordinary_tensors(llama):
    """Pages and experiments post-process captures (centring, steering vectors): the returned
    tensors must allow in-place updates outside `torch.inference_mode()`."""
    states = capture(llama, TEXTS[:2], positions="all").states
    before = states[0].clone()
    mean = states[0].mean(dim=0, keepdim=True)
    states[0] -= mean  # e.g. centring
    torch.testing.assert_close(states[0], before - mean)
