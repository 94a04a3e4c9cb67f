"""Logit lens: readout == the model's own distribution, chunking, raw mode, the lens experiment."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import hubcore.lens as lens_mod
from hubcore.errors import InputError
from hubcore.experiments.logit_lens import CSV_COLUMNS, MAX_LENS_TOKENS, logit_lens
import hubcore.models.intrace as intrace
from hubcore.lens import project, word_variants
from hubcore.tokens import pad_left
from hubcore.trace import capture

LENS_TEXTS = [
    "今天是开心的一",
    "The capital of France is",
    "El perro de mi vecino es muy",
    "numbers = [1, 2, 3]\nfor n in",
    "8=5+",
]


def _own_logprobs(model, text: str) -> torch.Tensor:
    """The model's own next-token log-probs from a plain transformers forward: [T, V]."""
    ids = model.tokenizer(text)["input_ids"]
    inputs = {k: v for k, v in pad_left([ids], model.tokenizer.pad_token_id, model.device).items()
              if k != "position_ids"}
    with torch.no_grad():
        logits = model.hf(**inputs).logits
    return logits[0].float().log_softmax(-1).cpu()


# ----------------------------------------------------------------------------- default model


@pytest.mark.default_model
@pytest.mark.parametrize("text", LENS_TEXTS[:4])
def test_default_last_layer_lens_equals_model_logits(default_model, text):
    model = default_model
    L = model.num_layers
    own = _own_logprobs(model, text)
    states = capture(model, [text], positions="all").states[0]
    assert states.shape[0] == own.shape[0]
    with torch.inference_mode():
        full = model.readout.logprobs(states[:, L]).cpu()
    assert full.shape == own.shape
    assert (full - own).abs().max() < 1e-4
    # project(): top-k ids/values and arbitrary target ids read the same distribution
    k = 10
    want_vals, want_ids = own.topk(k, dim=-1)
    targets = sorted(set(want_ids[:, 0].tolist()) | {0, 1, 2, 5000, model.card.vocab - 1})
    out = project(model, states[:, L:L + 1], top_k=k, target_ids=targets)
    assert out.top_ids.shape == (1, own.shape[0], k)
    assert (out.top_logprobs[0] - want_vals).abs().max() < 1e-4
    assert torch.equal(out.top_ids[0, :, 0], want_ids[:, 0])  # the argmax itself
    assert (out.target_logprobs[0] - own[:, targets]).abs().max() < 1e-4


@pytest.mark.default_model
def test_default_lens_chunking_gives_same_result(default_model, monkeypatch):
    model = default_model
    states = capture(model, [LENS_TEXTS[1]], positions="all", layers=[6, 12, 18]).states[0]
    targets = [i for w in ("day", "天") for _, i in word_variants(model.tokenizer, w)]
    ref = project(model, states, top_k=7, target_ids=targets)

    rows_per_call: list[int] = []
    real = intrace.lens_logits

    def spy(nn, hidden, *args):
        rows_per_call.append(hidden.shape[0])
        return real(nn, hidden, *args)

    monkeypatch.setattr(lens_mod, "CHUNK_ELEMENTS", 1)
    monkeypatch.setattr(intrace, "lens_logits", spy)
    tiny = project(model, states, top_k=7, target_ids=targets)
    n_pos, n_layers = states.shape[:2]
    assert rows_per_call == [1] * (n_pos * n_layers)  # one position per chunk
    assert torch.equal(tiny.top_ids[..., 0], ref.top_ids[..., 0])  # lower ranks may swap on exact ties
    assert (tiny.top_logprobs - ref.top_logprobs).abs().max() < 1e-4
    assert (tiny.target_logprobs - ref.target_logprobs).abs().max() < 1e-4


@pytest.mark.default_model
def test_default_raw_lens_differs_at_middle_layers(default_model):
    model = default_model
    mid = [6, 9, 12]
    states = capture(model, [LENS_TEXTS[2]], positions="all", layers=mid).states[0]
    normed = project(model, states, top_k=5, apply_norm=True)
    raw = project(model, states, top_k=5, apply_norm=False)
    assert (normed.top_logprobs - raw.top_logprobs).abs().max() > 0.1
    # the experiment's raw switch reaches the projection
    a = logit_lens(model, LENS_TEXTS[4], top_k=3)
    b = logit_lens(model, LENS_TEXTS[4], top_k=3, raw=True)
    assert b.raw and not a.raw
    pa = a.topk[a.topk.layer.isin(mid)]["prob"].to_numpy()
    pb = b.topk[b.topk.layer.isin(mid)]["prob"].to_numpy()
    assert abs(pa - pb).max() > 1e-3


@pytest.mark.default_model
def test_default_logit_lens_experiment(default_model, tmp_path):
    model = default_model
    text, k = "今天是开心的一", 5
    rep = logit_lens(model, text, top_k=k, targets=["day", "天"])
    n_tok = len(model.tokenizer(text)["input_ids"])
    L = model.num_layers
    top = rep.topk
    assert rep.num_layers == L and len(rep.input_tokens) == n_tok
    assert len(top) == (L + 1) * n_tok * k
    assert sorted(top.layer.unique()) == list(range(L + 1))
    assert sorted(top.position.unique()) == list(range(n_tok))
    assert top.prob.between(0, 1).all()
    for (_layer, _pos), cell in top.groupby(["layer", "position"]):
        assert cell["rank"].tolist() == list(range(1, k + 1))
        probs = cell["prob"].to_numpy()
        assert (probs[:-1] >= probs[1:]).all()
    # the input token column labels positions with the text's own tokens
    assert "".join(rep.input_tokens[1:]) == text

    # last layer, last position: the experiment's top-1 is the model's own argmax
    own = _own_logprobs(model, text)[-1]
    last = top[(top.layer == L) & (top.position == n_tok - 1) & (top["rank"] == 1)].iloc[0]
    assert int(last.token_id) == int(own.argmax())
    assert abs(last.prob - float(own.exp().max())) < 1e-4

    tg = rep.targets
    assert set(tg.target) == {"day", "天"}
    assert len(tg) == (L + 1) * n_tok * sum(len(word_variants(model.tokenizer, w)) for w in ("day", "天"))
    assert tg.prob.between(0, 1).all()
    for _key, cell in tg.groupby(["layer", "position", "target"]):
        n_best = int(cell.best.sum())
        n_max = int((cell.logprob == cell.logprob.max()).sum())
        assert n_best == n_max  # exactly one unless tied
        assert cell.loc[cell.best, "logprob"].min() == cell.logprob.max()
    # target log-probs at the last layer are the model's own
    own_all = _own_logprobs(model, text)
    for word in ("day", "天"):
        for variant, tid in word_variants(model.tokenizer, word):
            rows = tg[(tg.layer == L) & (tg.target == word) & (tg.variant == variant)]
            assert len(rows) == n_tok
            got = torch.tensor(rows.sort_values("position").logprob.to_numpy())
            assert (got - own_all[:, tid]).abs().max() < 1e-4

    path = tmp_path / "lens.csv"
    rep.csv_frame().to_csv(path, index=False)
    assert path.read_text(encoding="utf-8").splitlines()[0] == "layer,position,input_token,rank,token,prob"
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == CSV_COLUMNS
    assert len(back) == len(top)


# ----------------------------------------------------------------------------------- tiny model


def test_readout_accepts_captured_states_without_grad_context(tiny_model):
    """Capture.states are handed to users and pages; reading them through the public readout
    must not need a `torch.no_grad()` the caller has to know about."""
    for family, apply_norm in (("gpt2", True), ("llama", False)):
        model = tiny_model(family)
        L = model.num_layers
        states = capture(model, ["The capital of France is"], positions="all").states[0]
        lp = model.readout.logprobs(states[:, L], apply_norm=apply_norm)  # no grad context
        ref = project(model, states[:, L:L + 1], top_k=1, apply_norm=apply_norm)
        assert torch.equal(lp.argmax(-1), ref.top_ids[0, :, 0])


def test_project_shapes_and_top_k_clamped(tiny_model, tiny_tokenizer):
    model = tiny_model("qwen2")
    states = capture(model, ["hello world", "x"], positions="all").states[0]
    out = project(model, states, top_k=10_000, target_ids=[3, 4])
    n_pos, n_layers, _ = states.shape
    assert out.layers == list(range(n_layers))
    assert out.top_ids.shape == (n_layers, n_pos, len(tiny_tokenizer))
    assert out.target_logprobs.shape == (n_layers, n_pos, 2)
    # log-probs: a full distribution sums to one
    assert torch.allclose(out.top_logprobs.exp().sum(-1), torch.ones(n_layers, n_pos), atol=1e-4)
    assert (out.top_logprobs[..., :-1] >= out.top_logprobs[..., 1:]).all()


def test_word_variants(tiny_tokenizer):
    v = word_variants(tiny_tokenizer, "capital")
    assert [name for name, _ in v] == ["space", "no-space"]
    assert tiny_tokenizer.decode([v[0][1]]).startswith(" ")
    assert not tiny_tokenizer.decode([v[1][1]]).startswith(" ")
    assert len({i for _, i in v}) == len(v)
    assert word_variants(tiny_tokenizer, " capital ") == v


def test_logit_lens_on_tiny_model(tiny_model):
    model = tiny_model("gemma3_text")
    text = "The capital of Spain is"
    rep = logit_lens(model, text, top_k=3, targets=["Madrid", "Madrid", "  ", ""])
    n_tok = len(model.tokenizer(text)["input_ids"])
    assert len(rep.topk) == (model.num_layers + 1) * n_tok * 3
    assert set(rep.targets.target) == {"Madrid"}  # duplicates and blanks dropped
    cells = rep.cells
    assert len(cells) == (model.num_layers + 1) * n_tok
    assert (cells["rank"] == 1).all()
    assert cells.top_k.str.count(" · ").eq(2).all()
    assert list(rep.csv_frame().columns) == CSV_COLUMNS
    empty = logit_lens(model, text, top_k=1)
    assert len(empty.targets) == 0


@pytest.mark.parametrize("top_k", [0, 51])
def test_logit_lens_rejects_bad_top_k(tiny_model, top_k):
    with pytest.raises(InputError):
        logit_lens(tiny_model("llama"), "hello", top_k=top_k)


def test_logit_lens_rejects_too_long_and_empty_text(tiny_model):
    model = tiny_model("llama")
    with pytest.raises(InputError):
        logit_lens(model, "a " * (MAX_LENS_TOKENS + 10))
    with pytest.raises(InputError):
        logit_lens(model, " \n ")
