"""Vision experiments end to end on tiny random VLMs, checked against independent computations,
and the registered `vision` commands: on a saved tiny model folder, and in-process (each writes
exactly its documented columns plus the .json sidecar)."""

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
from tests.support.tiny_vlms import tiny
from tests.support.cli import run_command, written
from tests.support.tiny_vlms import VLM_FAMILIES, save_tiny_vlm

SIM_CSV = ["layer", "metric", "matched", "baseline", "adjusted", "ci_low", "ci_high", "retrieval_at_1"]
LENS_CSV = ["layer", "colour", "target", "share", "ci_low", "ci_high", "n_patches"]
GRID_CSV = ["colour", "layer", "row", "col", "token", "prob", "reads"]
ALIGN_CSV = ["layer", "target", "mean", "ci_low", "ci_high", "n"]
REPLACE_CSV = ["item", "left", "right", "old", "new", "layer", "answer", "success", "correct_unsteered", "changed"]
RATES_CSV = ["layer", "success_rate", "ci_low", "ci_high", "changed_rate", "n"]
PATCHES_CSV = ["layer", "row", "col", "rank", "token", "prob"]


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
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # --model is required: argparse says so, status 2
        main(["vision", "lens", "--out", str(out)])
    assert stop.value.code == 2 and "--model" in capsys.readouterr().err
    assert main(["vision", "lens", "--model", "default", "--out", str(out)]) == 2
    assert "No vision-language model is set" in capsys.readouterr().err
    assert main(["vision", "replace", "--model", str(folder), "--out", str(rep), "--items", "red,red,blue"]) == 2


def test_bad_items_and_images_fail_before_the_model_loads(monkeypatch, tmp_path, capsys):
    import hubcore.cli as cli

    def no_load(*_a, **_k):
        raise AssertionError("the model must not load")

    monkeypatch.setattr(cli, "_load", no_load)
    out = str(tmp_path / "r.csv")
    assert cli.main(["vision", "replace", "--model", "m", "--items", "red,red,blue", "--out", out]) == 2
    assert "three different colours" in capsys.readouterr().err
    assert cli.main(["vision", "replace", "--model", "m", "--items", "red,green", "--out", out]) == 2
    assert "LEFT,RIGHT,NEW" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert cli.main(["vision", "image-lens", "--model", "m", "--image", str(bad), "--out", out]) == 2
    assert "not an image" in capsys.readouterr().err
    assert cli.main(["vision", "image-lens", "--model", "m", "--image", "mauve", "--out", out]) == 2
    assert "neither an image file nor a colour name" in capsys.readouterr().err


VISION_COMMANDS = {
    "similarity": (["--images", "emoji", "--n", "4", "--bootstrap", "10"], SIM_CSV, ("items",)),
    "lens": (["--colours", "red", "blue", "--bootstrap", "10", "--raw"], LENS_CSV, ("grid", "variants")),
    "align": (["--n", "4", "--top-k", "3", "--bootstrap", "10"], ALIGN_CSV, ("items",)),
    "replace": (["--items", "red,green,blue", "--layers", "0", "2", "--max-new-tokens", "3"], REPLACE_CSV,
                ("rates",)),
    "image-lens": (["--image", "red", "--layer", "2", "--top-k", "2"], PATCHES_CSV, ()),
}


@pytest.mark.parametrize("command", list(VISION_COMMANDS))
def test_registered_command_writes_its_columns_and_metadata(command, monkeypatch, tmp_path):
    args, columns, sidecars = VISION_COMMANDS[command]
    out = tmp_path / "out.csv"
    assert run_command(monkeypatch, tiny("gemma3"), ["vision", command, "--model", "tiny", *args,
                                                     "--out", str(out)]) == 0
    df, meta = written(out, f"vision {command}", columns)
    assert len(df) > 0 and meta["model"]["kind"] == "vision"
    for name in sidecars:
        assert (tmp_path / f"out_{name}.csv").exists()
    if command == "lens":
        assert list(pd.read_csv(tmp_path / "out_grid.csv").columns) == GRID_CSV
        assert meta["params"]["raw"] is True
    if command == "replace":
        assert list(pd.read_csv(tmp_path / "out_rates.csv").columns) == RATES_CSV
    if command == "image-lens":
        assert set(df.layer) == {2} and set(df["rank"]) == {1, 2} and len(df) == 2 * 16


def test_image_lens_reads_a_file_like_its_colour(tmp_path):
    """`--image FILE` and `--image COLOUR` see the same pixels when the file is that colour."""
    vm = tiny("llava")
    path = tmp_path / "red.png"
    solid("red").save(path)
    by_name = vx.image_lens(vm, "red", top_k=2)
    by_file = vx.image_lens(vm, str(path), top_k=2)
    by_bytes = vx.image_lens(vm, path.read_bytes(), name="red.png", top_k=2)
    pd.testing.assert_frame_equal(by_name.patches, by_file.patches)
    pd.testing.assert_frame_equal(by_name.patches, by_bytes.patches)
    assert by_name.rows * by_name.cols == 16
    assert by_name.meta["params"]["image"] == "red" and by_bytes.meta["params"]["image"].endswith("bytes>")
