"""Vision experiments end to end on tiny random VLMs, checked against independent computations,
and the `vision` CLI on a saved tiny model folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hubcore.cli import main
from hubcore.experiments import vision as vx
from hubcore.lens import word_variants
from hubcore.vision.images import solid, split
from hubcore.vision.processing import build_prompt, encode, image_token_positions
from tests.test_vision_models import tiny
from tests.tiny_vlms import VLM_FAMILIES, save_tiny_vlm


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_similarity_matches_a_direct_computation(family):
    vm = tiny(family)
    rep = vx.image_caption_similarity(vm, colours=("red", "green", "blue"), n_boot=50)
    assert set(rep.curves.layer) == set(range(vm.num_layers + 1))
    raw = rep.curves[rep.curves.metric == "raw"].set_index("layer")
    # independent: HF hidden states, mean over image tokens vs mean over caption tokens
    layer = vm.num_layers - 1
    prompt = build_prompt(vm, "")
    img, cap = [], []
    with torch.inference_mode():
        for c in ("red", "green", "blue"):
            inputs = encode(vm, [solid(c)], [prompt])
            cols = image_token_positions(vm, inputs["input_ids"])[0]
            img.append(vm.hf(**inputs, output_hidden_states=True).hidden_states[layer][0, cols].mean(0))
            ids = vm.tokenizer(c, return_tensors="pt")["input_ids"]
            keep = [j for j, t in enumerate(ids[0].tolist()) if t not in vm.tokenizer.all_special_ids]
            cap.append(vm.hf(input_ids=ids, output_hidden_states=True).hidden_states[layer][0, keep].mean(0))
    cos = torch.nn.functional.cosine_similarity(torch.stack(img)[:, None].double(),
                                                torch.stack(cap)[None].double(), dim=-1)
    assert raw.loc[layer, "matched"] == pytest.approx(float(cos.diagonal().mean()), abs=1e-4)
    assert raw.loc[layer, "baseline"] == pytest.approx(float((cos.sum() - cos.trace()) / 6), abs=1e-4)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_patch_lens_matches_a_direct_computation(family):
    vm = tiny(family)
    rep = vx.patch_lens(vm, colours=("red", "green", "white"), n_boot=50)
    assert rep.notes and "white" in rep.notes[0]  # the baseline colour's own image is left out
    assert len(rep.grid) == 2 * (vm.num_layers + 1) * 16
    inputs = encode(vm, [solid("green")], [build_prompt(vm, "")])
    cols = image_token_positions(vm, inputs["input_ids"])[0]
    with torch.inference_mode():
        hs = vm.hf(**inputs, output_hidden_states=True).hidden_states
        for layer in (1, vm.num_layers - 1):
            top = vm.readout.logits(hs[layer][0, cols]).argmax(-1).tolist()
            cells = rep.grid[(rep.grid.colour == "green") & (rep.grid.layer == layer)]
            assert cells["token"].tolist() == [vm.tokenizer.decode([t]) for t in top]
            green = {t for _, t in word_variants(vm.tokenizer, "green")}
            want = np.mean([t in green for t in top])
            got = rep.curves.query("layer == @layer and colour == 'green' and target == 'colour'")
            assert got["share"].item() == pytest.approx(want)


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_caption_alignment_runs(family):
    rep = vx.caption_alignment(tiny(family), n=4, top_k=5, n_boot=50)
    assert set(rep.curves.target) == {"matched", "nonmatching", "adjusted", "hit_at_5"}
    pivot = rep.curves.pivot(index="layer", columns="target", values="mean")
    np.testing.assert_allclose(pivot["adjusted"], pivot["matched"] - pivot["nonmatching"], atol=1e-9)
    assert len(rep.items) == 4


@pytest.mark.parametrize("family", VLM_FAMILIES)
def test_replacement_edits_only_what_it_should(family):
    vm = tiny(family)
    items = [("red", "green", "blue"), ("blue", "black", "red")]
    top = vm.num_layers
    zero = vx.two_colour_replacement(vm, items=items, layers=[0, top], strength=0.0, max_new_tokens=4)
    assert not zero.generations["changed"].any()  # strength 0 = the unsteered answers
    strong = vx.two_colour_replacement(vm, items=items, layers=[0, top], strength=4.0, max_new_tokens=4)
    rates = strong.rates.set_index("layer")
    assert rates.loc[0, "changed_rate"] > 0  # an edit from the input layer on changes answers
    # image states after the last block feed only their own logits: the answer cannot change
    assert rates.loc[top, "changed_rate"] == 0
    assert set(strong.generations.layer) == {-1, 0, top}


def test_replacement_equals_a_hook_reference():
    """The nnsight edit (prompt pass only) equals HF generate with a forward hook doing the same."""
    vm = tiny("llava")
    rep = vx.two_colour_replacement(vm, items=[("red", "green", "blue")], layers=[2], scale="raw",
                                    strength=30.0, max_new_tokens=5)
    prompt = build_prompt(vm, vx.DEFAULT_QUESTION)
    inputs = encode(vm, [split("red", "green")], [prompt])
    cols = image_token_positions(vm, inputs["input_ids"])[0]
    left = [p for k, p in enumerate(cols) if k % 4 < 2]
    w = vm.hf.get_output_embeddings().weight
    vec = 30.0 * (w[word_variants(vm.tokenizer, "blue")[0][1]] - w[word_variants(vm.tokenizer, "red")[0][1]])
    width = inputs["input_ids"].shape[1]

    def hook(_m, _i, out):
        if out.shape[1] != width:  # generated tokens are not edited
            return out
        new = out.clone()
        new[0, left] += vec
        return new

    layers = vm.hf.model.language_model.layers
    handles = [layers[k - 1].register_forward_hook(hook) for k in (2, 3)]
    try:
        with torch.inference_mode():
            ids = vm.hf.generate(**inputs, max_new_tokens=5, do_sample=False,
                                 pad_token_id=vm.tokenizer.pad_token_id)
    finally:
        for h in handles:
            h.remove()
    want = vm.tokenizer.decode(ids[0, width:], skip_special_tokens=True)
    got = rep.generations.query("layer == 2")["answer"].item()
    assert got == want and rep.generations["changed"].any()


def test_cli_end_to_end_on_a_saved_model(tmp_path, capsys):
    folder = save_tiny_vlm("gemma3", tmp_path / "gemma3")
    out = tmp_path / "lens.csv"
    assert main(["vision", "lens", "--model", str(folder), "--out", str(out), "--bootstrap", "20",
                 "--grid", str(tmp_path / "grid.csv")]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "colour", "target", "share", "ci_low", "ci_high", "n_patches"]
    assert set(df.colour) == {"red", "green", "blue", "black", "all"}
    assert len(pd.read_csv(tmp_path / "grid.csv")) == 4 * 4 * 16
    rep = tmp_path / "rep.csv"
    assert main(["vision", "replace", "--model", str(folder), "--out", str(rep), "--layers", "0", "3",
                 "--items", "red,green,blue", "--max-new-tokens", "3"]) == 0
    rates = pd.read_csv(tmp_path / "rep_rates.csv")
    assert list(rates.layer) == [0, 3] and list(rates.n) == [1, 1]
    sim = tmp_path / "sim.csv"
    assert main(["vision", "similarity", "--model", str(folder), "--out", str(sim),
                 "--bootstrap", "20"]) == 0
    assert len(pd.read_csv(sim)) == 2 * 4  # raw + centered x layers 0..3
    assert main(["vision", "lens", "--out", str(out)]) == 2
    assert "No vision-language model is set" in capsys.readouterr().err
    assert main(["vision", "replace", "--model", str(folder), "--out", str(rep), "--items", "red,red,blue"]) == 2
