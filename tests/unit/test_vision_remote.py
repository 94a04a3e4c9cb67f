"""Every vision computation through the remote path: on a handle variant with `remote="local"`
(nnsight's serverless dry run: serialised as for NDIF, this project's modules hidden, run) each
vision experiment gives the same result as the plain local run, on tiny random LLaVA, Gemma 3
and Qwen2-VL models."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import torch

from hubcore.experiments import vision as vx
from hubcore.models.remote import TRAFFIC
from hubcore.vision.images import solid, split
from hubcore.vision.processing import (build_prompt, capture_states, encode, generate_with_edits,
                                       image_token_positions, lens_columns)
from tests.support.tiny_vlms import tiny
from tests.support.cli import assert_same_tables
from tests.support.tiny_vlms import VLM_FAMILIES


def _pair(family: str):
    local = tiny(family)
    return local, local.variant("local")


def _close(a, b, rel: float = 1e-5) -> None:
    scale = float(b.abs().max()) or 1.0
    assert float((a - b).abs().max()) <= rel * scale


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-6) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=False, rtol=tol, atol=tol)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_capture_lens_and_generation_match_through_the_dry_run(family):
    local, dry = _pair(family)
    assert dry.remote == "local" and dry.hf is local.hf and "dry run" in dry.card.runs_on
    inputs = encode(local, [solid("red"), split("green", "blue")],
                    [build_prompt(local, "What colour is this?")] * 2)
    cols = image_token_positions(local, inputs["input_ids"])
    layers = list(range(local.num_layers + 1))
    before = TRAFFIC.requests
    for a, b in zip(capture_states(local, inputs, cols, layers), capture_states(dry, inputs, cols, layers)):
        _close(b, a)
    assert TRAFFIC.requests > before  # the dry run really went through the remote path
    la = lens_columns(local, inputs, cols, layers, top_k=3, target_ids=[5, 6, 7])
    lb = lens_columns(dry, inputs, cols, layers, top_k=3, target_ids=[5, 6, 7])
    for a, b in zip(la, lb):
        assert torch.equal(a.top_ids, b.top_ids)
        _close(b.top_logprobs, a.top_logprobs)
        _close(b.target_logprobs, a.target_logprobs)
    mask = torch.zeros(2, inputs["input_ids"].shape[1], 1, dtype=torch.bool)
    mask[:, cols[0][:8]] = True
    edits = {1: (mask, 3.0 * torch.ones(2, 1, local.hidden_size))}
    for e in ({}, edits):
        assert generate_with_edits(dry, inputs, e, 5) == generate_with_edits(local, inputs, e, 5)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_image_caption_similarity_same_remotely(family):
    local, dry = _pair(family)
    a = vx.image_caption_similarity(local, colours=("red", "green", "blue"), n_boot=50)
    b = vx.image_caption_similarity(dry, colours=("red", "green", "blue"), n_boot=50)
    _frames_equal(a.curves, b.curves)
    assert a.prompt == b.prompt
    assert_same_tables(a, b, 1e-6)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_patch_lens_same_remotely(family):
    local, dry = _pair(family)
    a = vx.patch_lens(local, colours=("red", "green", "white"), n_boot=50)
    b = vx.patch_lens(dry, colours=("red", "green", "white"), n_boot=50)
    assert a.grid["token"].tolist() == b.grid["token"].tolist()  # top-1 per patch identical
    _frames_equal(a.grid, b.grid, tol=1e-5)
    _frames_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.variants, b.variants)
    assert set(a.tables) == set(b.tables) and b.meta["remote"]["target"] == "local"


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_caption_alignment_same_remotely(family):
    local, dry = _pair(family)
    a = vx.caption_alignment(local, n=4, top_k=5, n_boot=50)
    b = vx.caption_alignment(dry, n=4, top_k=5, n_boot=50)
    _frames_equal(a.curves, b.curves, tol=1e-5)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert set(a.tables) == set(b.tables) and b.meta["remote"]["target"] == "local"


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_two_colour_replacement_same_remotely(family):
    local, dry = _pair(family)
    items = [("red", "green", "blue"), ("blue", "black", "red")]
    kw = dict(items=items, layers=[0, local.num_layers], strength=4.0, max_new_tokens=4)
    a = vx.two_colour_replacement(local, **kw)
    b = vx.two_colour_replacement(dry, **kw)
    pd.testing.assert_frame_equal(a.generations, b.generations)  # token-identical answers
    _frames_equal(a.rates, b.rates)
    assert_same_tables(a, b, 1e-6)
    assert a.norms.keys() == b.norms.keys()
    for layer in a.norms:
        assert b.norms[layer] == pytest.approx(a.norms[layer], rel=1e-6)


def test_image_lens_same_remotely():
    local, dry = _pair("gemma3")
    buf = io.BytesIO()
    split("red", "blue", size=64).save(buf, format="PNG")
    a = vx.image_lens(local, buf.getvalue(), name="upload.png")
    b = vx.image_lens(dry, buf.getvalue(), name="upload.png")
    assert a.patches["token"].tolist() == b.patches["token"].tolist()
    _frames_equal(a.patches, b.patches, tol=1e-5)
    top2 = [vx.image_lens(m, buf.getvalue(), name="upload.png", top_k=2, layer=1) for m in (local, dry)]
    assert top2[0].patches["token"].tolist() == top2[1].patches["token"].tolist()  # lens: identical tokens
    assert set(top2[0].tables) == set(top2[1].tables) and top2[1].meta["remote"]["target"] == "local"


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_in_trace_generation_equals_hf_generate_on_a_padded_batch(family):
    """The decode loop inside one trace (Qwen-VL: 3-D positions advanced explicitly) gives HF's
    own greedy answers, on rows of different lengths (left padding)."""
    local, dry = _pair(family)
    question = build_prompt(local, "What colours are in this image?")
    inputs = encode(local, [split("red", "green"), solid("blue")],
                    [question, question.replace("What", "Which red green blue colours? What")])
    assert (inputs["attention_mask"] == 0).any()  # really padded
    with torch.inference_mode():
        ids = local.hf.generate(**inputs, max_new_tokens=6, do_sample=False,
                                pad_token_id=local.tokenizer.pad_token_id)
    want = [local.tokenizer.decode(row, skip_special_tokens=True)
            for row in ids[:, inputs["input_ids"].shape[1]:]]
    assert generate_with_edits(local, inputs, {}, 6) == want
    assert generate_with_edits(dry, inputs, {}, 6) == want


def test_ndif_spec_builds_a_weightless_skeleton_and_fails_in_one_sentence(tmp_path):
    """A VLM spec that runs on (a self-hosted) NDIF loads no weights here; the load-time lens
    check is shipped and fails, offline, with one sentence instead of a traceback."""
    from hubcore.errors import HubError
    from hubcore.models import ModelSpec
    from hubcore.models.vision import load_vision_model
    from tests.support.tiny_vlms import save_tiny_vlm

    folder = save_tiny_vlm("llava", tmp_path / "llava")
    with pytest.raises(HubError) as err:
        load_vision_model(ModelSpec(kind="vision", source=str(folder), remote="http://127.0.0.1:9"))
    assert "\n" not in str(err.value)
