"""Anchor planes and trajectories (Figure 6): geometry on tiny models, end-to-end on the default model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hubcore.data.arithmetic import anchor_words
from hubcore.errors import InputError
from hubcore.lens import project
from hubcore.experiments.arithmetic import arithmetic_trajectories
from hubcore.projection import anchor_plane, project_states
from hubcore.tokens import pad_left
from hubcore.trace import capture_last

# distinct first tokens in the tiny BPE: " word" single tokens, bare "dog", first piece "Par"
WORDS = ["The", "capital", "Madrid", "model", "token", "hidden", "dog", "Paris", "red"]
TEXTS = ["The capital of France is", "El perro", "3 + 4 ="]
RMS_FAMILIES = ["llama", "gemma3_text", "gemma2", "qwen2"]  # RMSNorm final norms


def _head_rows(model, ids) -> np.ndarray:
    return model.readout.head.weight.detach()[list(ids)].float().cpu().numpy()


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_plane_fits_unit_rows(tiny_model, family):
    model = tiny_model(family)
    plane = anchor_plane(model, WORDS)
    k = len(WORDS)
    assert plane.labels == WORDS
    assert plane.coords.shape == (k, 2) and plane.rows.shape == (k, model.hidden_size)
    assert len(set(plane.token_ids)) == k
    rows = _head_rows(model, plane.token_ids)
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    assert np.allclose(plane.rows, unit, atol=1e-6)
    assert np.allclose(plane.pca.mean_, unit.mean(0), atol=1e-6)
    # the anchors sit where the fitted transform puts them
    assert np.allclose(plane.pca.transform(unit), plane.coords, atol=1e-5)
    # surface forms: " word" when that is one token, else the bare word's first token
    for word, tid, form, whole in zip(WORDS, plane.token_ids, plane.forms, plane.whole_word):
        spaced = model.tokenizer(" " + word, add_special_tokens=False)["input_ids"]
        bare = model.tokenizer(word, add_special_tokens=False)["input_ids"]
        if len(spaced) == 1:
            assert (tid, form, whole) == (spaced[0], "space", True)
        else:
            assert (tid, form, whole) == (bare[0], "no-space", len(bare) == 1)
    assert set(plane.forms) == {"space", "no-space"} and not all(plane.whole_word)
    frame = plane.frame()
    assert list(frame.columns[:4]) == ["label", "token", "x", "y"]
    assert len(frame) == k and np.allclose(frame[["x", "y"]].to_numpy(), plane.coords)
    assert len(plane.explained_variance_ratio) == 2


def test_plane_rejects_bad_words(tiny_model):
    model = tiny_model("llama")
    with pytest.raises(InputError, match="same token"):
        anchor_plane(model, ["red", "blue", "red"])
    with pytest.raises(InputError, match="same token"):
        anchor_plane(model, ["dog", " dog ", "The"])  # the same word once stripped
    with pytest.raises(InputError, match="'two' and 'three' map to the same token"):
        anchor_plane(model, ["The", "two", "three"])  # both start with the bare piece "t"
    with pytest.raises(InputError, match="empty"):
        anchor_plane(model, ["red", "  ", "blue"])
    with pytest.raises(InputError, match="at least 3"):
        anchor_plane(model, ["red", "blue"])
    with pytest.raises(InputError):
        anchor_plane(model, "red blue green")


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma2"])
def test_projection_is_final_norm_then_unit_then_pca(tiny_model, family):
    model = tiny_model(family)
    plane = anchor_plane(model, WORDS)
    states = capture_last(model, TEXTS)  # [N, L+1, d]
    got = project_states(model, plane, states)
    assert got.shape == (len(TEXTS), model.num_layers + 1, 2)
    with torch.inference_mode():
        normed = model.readout.norm(states).float().numpy()
    unit = normed / np.linalg.norm(normed, axis=-1, keepdims=True)
    want = (unit - plane.pca.mean_) @ plane.pca.components_.T
    assert np.allclose(got, want, atol=1e-4)
    # the final norm really is applied (tiny models have perturbed norm gains)
    raw = states.numpy() / np.linalg.norm(states.numpy(), axis=-1, keepdims=True)
    assert not np.allclose(got, (raw - plane.pca.mean_) @ plane.pca.components_.T, atol=1e-3)
    # a state's scale never moves its point (up to the norm's epsilon, which matters for the tiny
    # models' small states: compare two scales well above it); numpy input works like a tensor
    big = project_states(model, plane, states * 10.0)
    assert np.allclose(project_states(model, plane, states * 250.0), big, atol=1e-4)
    assert np.allclose(got, big, atol=2e-3)
    assert np.allclose(project_states(model, plane, states.numpy()), got, atol=1e-6)
    with pytest.raises(InputError):
        project_states(model, plane, states[0])
    with pytest.raises(InputError):
        project_states(model, plane, states[..., :-1])


@pytest.mark.parametrize("family", RMS_FAMILIES)
def test_state_along_an_anchor_lands_on_it(tiny_model, family):
    """A state whose final-normed version points along an anchor's row projects onto that anchor."""
    model = tiny_model(family)
    plane = anchor_plane(model, WORDS)
    d = model.hidden_size
    with torch.inference_mode():
        gain = model.readout.norm(torch.ones(1, d)).float()[0]  # RMSNorm(1) = its effective gain
    assert gain.abs().min() > 1e-3
    rows = torch.from_numpy(plane.rows)
    states = (rows / gain)[:, None, :].repeat(1, 2, 1) * 3.0  # [K, 2 layers, d]
    got = project_states(model, plane, states)
    assert np.allclose(got[:, 0], plane.coords, atol=1e-3)
    assert np.allclose(got[:, 1], plane.coords, atol=1e-3)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_trajectories_tiny(tiny_model, family):
    model = tiny_model(family)
    calls = []
    res = arithmetic_trajectories(model, TEXTS, WORDS, progress=lambda f, m: calls.append(f))
    anchors, paths = res.anchors, res.tables["paths"]  # res.paths is Result.paths()
    assert res.explained_variance_ratio == anchor_plane(model, WORDS).explained_variance_ratio.tolist()
    L = model.num_layers
    assert list(anchors.columns[:4]) == ["label", "token", "x", "y"] and len(anchors) == len(WORDS)
    assert list(paths.columns[:5]) == ["text", "layer", "x", "y", "top_token"]
    assert len(paths) == len(TEXTS) * (L + 1)
    assert paths.groupby("text").layer.apply(list).map(lambda l: l == list(range(L + 1))).all()
    assert calls and calls[-1] == 1.0 and calls == sorted(calls)
    # top tokens are the lens's top-1 at each layer of each text's last token
    states = capture_last(model, TEXTS)
    for i, text in enumerate(TEXTS):
        out = project(model, states[i:i + 1], top_k=1)
        sub = paths[paths.text_index == i]
        assert (sub.text == text).all()
        assert sub.top_id.tolist() == out.top_ids[:, 0, 0].tolist()
        assert sub.top_token.tolist() == [
            model.tokenizer.decode([t], clean_up_tokenization_spaces=False) for t in sub.top_id]
    with pytest.raises(InputError):
        arithmetic_trajectories(model, [], WORDS)


# ----------------------------------------------------------------------------- default model


@pytest.mark.default_model
def test_default_digit_anchor_plane(default_model):
    model = default_model
    plane = anchor_plane(model, anchor_words("digits"))
    assert plane.coords.shape == (20, 2)
    # Gemma writes " 5" as "▁" + "5": digits come from the bare form, words from " word"
    assert plane.forms == ["no-space"] * 10 + ["space"] * 10
    assert all(plane.whole_word)
    assert plane.tokens[:10] == [str(i) for i in range(10)]
    assert plane.tokens[10:] == [" " + w for w in anchor_words("words")]
    assert plane.explained_variance_ratio.sum() > 0.1


@pytest.mark.default_model
def test_default_trajectories_end_at_the_models_own_prediction(default_model):
    model = default_model
    prefixes = ["8=5+", "12=7+", "30=6*"]
    res = arithmetic_trajectories(model, prefixes, anchor_words("digits"))
    anchors, paths = res.anchors, res.tables["paths"]  # res.paths is Result.paths()
    L = model.num_layers
    assert L == 18 and len(anchors) == 20
    assert len(paths) == 3 * 19
    assert paths.groupby("text").size().tolist() == [19, 19, 19]
    assert np.isfinite(paths[["x", "y"]].to_numpy()).all()
    last = paths[paths.layer == L].set_index("text")
    for text in prefixes:
        ids = model.tokenizer(text)["input_ids"]
        inputs = {k: v for k, v in pad_left([ids], model.tokenizer.pad_token_id, model.device).items()
                  if k != "position_ids"}
        with torch.inference_mode():
            greedy = int(model.hf(**inputs).logits[0, -1].argmax())
        assert int(last.loc[text, "top_id"]) == greedy
        assert last.loc[text, "top_token"] == model.tokenizer.decode([greedy])
