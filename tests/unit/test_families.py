"""Every supported family, as a tiny random model: wrapping, capture vs transformers, lens, batching."""

from __future__ import annotations

import pytest
import torch

from hubcore.lens import project
from hubcore.tokens import plan_batches
from hubcore.trace import DEFAULT_TOKEN_BUDGET, capture
from tests.support.tiny_models import FAMILIES

# Longer than the tiny Gemma sliding window (8 tokens), so both attention kinds are exercised.
TEXT = "The capital of France is Paris, and the capital of Spain is Madrid. 法国的首都是巴黎。"
TEXTS = [
    "for i in range(10):\n    print(i, i ** 2)",  # mid length
    "El perro",  # short
    "Once upon a time, there was a little model that could predict the next token. 从前有一个小模型",
]

pytestmark = pytest.mark.parametrize("family", FAMILIES)


def _hf_forward(model, text: str):
    enc = model.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return enc, model.hf(**enc, output_hidden_states=True)


def test_wrap_model_matches_config(tiny_model, tiny_tokenizer, family):
    model = tiny_model(family)
    config = model.hf.config
    assert model.num_layers == config.num_hidden_layers == 3
    assert model.card.layers == model.num_layers
    assert model.card.family == family
    assert model.card.width == model.hidden_size == config.hidden_size
    assert model.card.vocab == len(tiny_tokenizer)
    assert model.card.parameters == sum(p.numel() for p in model.hf.parameters())
    assert model.tokenizer.padding_side == "left"
    assert model.tokenizer.pad_token_id is not None


def test_capture_all_layers_matches_hf_hidden_states(tiny_model, family):
    model = tiny_model(family)
    L = model.num_layers
    enc, out = _hf_forward(model, TEXT)
    hs = out.hidden_states
    assert len(hs) == L + 1
    cap = capture(model, [TEXT], positions="all")
    states = cap.states[0]
    n_tok = enc["input_ids"].shape[1]
    assert n_tok > 8
    assert cap.layers == list(range(L + 1))
    assert cap.positions == [list(range(n_tok))]
    assert tuple(states.shape) == (n_tok, L + 1, model.hidden_size)
    assert states.dtype == torch.float32
    for layer in range(L):
        torch.testing.assert_close(states[:, layer], hs[layer][0], atol=1e-5, rtol=0)
    # layer L is the last block's output *before* the final norm; HF's last entry is normed
    with torch.no_grad():
        normed = model.readout.norm(states[:, L].clone())
    torch.testing.assert_close(normed, hs[L][0], atol=1e-5, rtol=0)
    assert (states[:, L] - hs[L][0]).abs().max() > 1e-3, "layer L must not be normed already"


def test_last_layer_lens_equals_model_logprobs(tiny_model, tiny_tokenizer, family):
    model = tiny_model(family)
    L = model.num_layers
    vocab = len(tiny_tokenizer)
    enc, out = _hf_forward(model, TEXT)
    own = out.logits[0].float().log_softmax(-1)  # [T, V]
    states = capture(model, [TEXT], positions="all").states[0]
    lens = project(model, states[:, L:L + 1], top_k=vocab, target_ids=list(range(vocab)))
    torch.testing.assert_close(lens.target_logprobs[0], own, atol=1e-4, rtol=0)
    # the top-k view is the same distribution, sorted
    top_sorted, _ = own.sort(dim=-1, descending=True)
    torch.testing.assert_close(lens.top_logprobs[0], top_sorted, atol=1e-4, rtol=0)
    torch.testing.assert_close(own.gather(-1, lens.top_ids[0]), lens.top_logprobs[0], atol=1e-4, rtol=0)

    cap = getattr(model.hf.config, "final_logit_softcapping", None)
    assert model.readout.softcap == cap
    if cap:
        # soft-capping matters here (cap 1.0), so the check above really exercised it
        with torch.no_grad():
            plain = model.readout.head(model.readout.norm(states[:, L].clone())).log_softmax(-1)
        assert (plain - own).abs().max() > 1e-2


def test_batched_capture_equals_one_at_a_time(tiny_model, family):
    model = tiny_model(family)
    lengths = [len(model.tokenizer(t)["input_ids"]) for t in TEXTS]
    assert len(set(lengths)) == 3
    assert len(plan_batches(lengths, DEFAULT_TOKEN_BUDGET)) == 1  # really one padded batch
    batched = capture(model, TEXTS, positions="all")
    last = capture(model, TEXTS, positions="last")
    for i, text in enumerate(TEXTS):
        single = capture(model, [text], positions="all")
        assert batched.positions[i] == single.positions[0] == list(range(lengths[i]))
        assert batched.states[i].shape == single.states[0].shape
        torch.testing.assert_close(batched.states[i], single.states[0], atol=1e-4, rtol=0)
        # "last" (which keeps only column -1 of the padded batch) is the text's own last token
        assert last.positions[i] == [lengths[i] - 1]
        torch.testing.assert_close(last.states[i][0], single.states[0][-1], atol=1e-4, rtol=0)


def test_card_lens_check(tiny_model, family):
    model = tiny_model(family)
    assert model.card.lens_check == model.card.lens_check  # not NaN: the check ran
    assert 0.0 <= model.card.lens_check < 1e-4
