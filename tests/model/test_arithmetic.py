"""Arithmetic experiments: buckets, numeral vs word lens, +1 intervention, CLI columns."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from app.registry import ROOT
from hubcore.data.arithmetic import Expression
from hubcore.experiments.arithmetic import classify, first_number
from tests.support.cli import assert_same_tables, run_command, written


def test_first_number_and_classify():
    e = Expression(8, 5, 3, "+")
    assert first_number("2\n8=") == 2 and first_number("12") == 12 and first_number("x") is None
    assert classify(e, "2\n") == "corrected"
    assert classify(e, "3") == "unchanged"
    assert classify(e, " four") == "other"


@pytest.mark.default_model
def test_similarity_buckets_on_default_model(default_model):
    from hubcore.data.arithmetic import sample_expressions
    from hubcore.experiments.arithmetic import arithmetic_similarity
    from hubcore.trace import capture_last

    exprs = sample_expressions(60, seed=5)
    rep = arithmetic_similarity(default_model, expressions=exprs, n_boot=100)
    raw = rep.curves[rep.curves.metric == "raw"].pivot(index="layer", columns="bucket", values="mean")
    top = default_model.num_layers
    # acceptance: exact translations above different values at every layer 1..L
    assert (raw.loc[1:top, "exact"] > raw.loc[1:top, "different_value"]).all()
    # exact minus rest equals an independent computation
    a = capture_last(default_model, [e.numeral for e in exprs])
    b = capture_last(default_model, [e.words("en") for e in exprs])
    for layer in (3, 12, top):
        sim = F.normalize(a[:, layer].double(), dim=-1) @ F.normalize(b[:, layer].double(), dim=-1).T
        eye = torch.eye(len(exprs), dtype=torch.bool)
        want = sim[eye].mean() - sim[~eye].mean()
        assert abs(raw.loc[layer, "exact_minus_rest"] - want.item()) < 1e-6


@pytest.mark.default_model
def test_numeral_vs_word_equals_direct_readout(default_model):
    from hubcore.experiments.arithmetic import numeral_vs_word
    from hubcore.lens import word_variants
    from hubcore.trace import capture_last

    exprs = [Expression(8, 5, 3, "+"), Expression(14, 7, 2, "*")]
    rep = numeral_vs_word(default_model, expressions=exprs, n_boot=0)
    assert set(rep.curves.target) == {"numeral", "word"}
    states = capture_last(default_model, [e.prefix for e in exprs])
    layer = 12
    with torch.inference_mode():
        lp = default_model.readout.logprobs(states[:, layer])
    tok = default_model.tokenizer
    want = sum(max(lp[i, t].item() for _, t in word_variants(tok, str(e.c)))
               for i, e in enumerate(exprs)) / len(exprs)
    got = rep.curves.query("target == 'numeral' and layer == @layer")["mean_logprob"].item()
    assert abs(got - want) < 1e-4


@pytest.mark.default_model
def test_plus_one_strength_zero_is_plain_greedy(default_model):
    from hubcore.experiments.arithmetic import FEW_SHOT, plus_one_intervention

    rep = plus_one_intervention(default_model, n=6, layers=[9], strengths=[0.0, 2.0], few_shot=True,
                                max_b=9)
    zero = rep.generations[rep.generations.strength == 0.0].sort_values("item")
    tok = default_model.tokenizer
    for _, row in zero.iterrows():
        enc = tok(FEW_SHOT + row.equation.rsplit("+", 1)[0] + "+", return_tensors="pt")
        out = default_model.hf.generate(**enc, max_new_tokens=3, do_sample=False)
        plain = tok.decode(out[0, enc.input_ids.shape[1]:], skip_special_tokens=True)
        assert first_number(plain) == row.answer
    assert rep.n_solved == (zero.outcome == "unchanged").sum()
    if rep.n_solved:
        sums = rep.rates.groupby(["layer", "strength"])["rate"].sum()
        assert ((sums - 1).abs() < 1e-9).all()
        assert (rep.rates.query("strength == 0 and outcome == 'unchanged'")["rate"] == 1.0).all()


@pytest.mark.default_model
def test_arithmetic_similarity_cli_columns(tmp_path):
    out = tmp_path / "a.csv"
    res = subprocess.run([sys.executable, "-m", "hubcore", "arithmetic", "similarity", "--n", "30",
                          "--bootstrap", "20", "--seed", "1", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "metric", "bucket", "mean", "ci_low", "ci_high"]
    assert set(df.bucket) == {"exact", "same_value", "different_value", "exact_minus_rest"}
    assert set(df.metric) == {"raw", "centered"}


# ------------------------------------------------ registered commands and the remote dry run (tiny)

SIM_CSV = ["layer", "metric", "bucket", "mean", "ci_low", "ci_high"]
LENS_CSV = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
GEN_CSV = ["item", "strength", "prompt", "continuation", "layer", "equation", "answer", "outcome", "solved"]
RATES_CSV = ["layer", "strength", "outcome", "rate", "n"]
PATHS_CSV = ["text", "layer", "x", "y", "top_token", "text_index", "top_id"]
ANCHORS = ["The", "capital", "Madrid", "model", "dog"]  # distinct first tokens in the tiny BPE




ARITH_COMMANDS = {
    "similarity": (["--n", "30", "--bootstrap", "10", "--seed", "1"], SIM_CSV, ()),
    "lens": (["--n", "8", "--bootstrap", "10", "--raw"], LENS_CSV, ("variants",)),
    "intervene": (["--n", "4", "--layers", "1", "2", "--strengths", "0", "1.5", "--few-shot", "--max-b", "9"],
                  GEN_CSV, ("rates",)),
    "trajectories": (["--prompt", "8=5+", "--prompt", "The capital, Paris", "--anchors", ",".join(ANCHORS)], PATHS_CSV,
                     ("anchors",)),
}


@pytest.mark.parametrize("command", list(ARITH_COMMANDS))
def test_registered_command_writes_documented_csv_and_json(command, tiny_model, monkeypatch, tmp_path, capsys):
    args, columns, sidecars = ARITH_COMMANDS[command]
    out = tmp_path / f"{command}.csv"
    assert run_command(monkeypatch, tiny_model("llama"), ["arithmetic", command, *args, "--out", str(out)]) == 0
    df, meta = written(out, f"arithmetic {command}", columns)
    assert len(df) and set(meta["tables"]) == {command_table(command), *sidecars}
    for side in sidecars:
        assert (tmp_path / f"{command}_{side}.csv").exists()
    err = capsys.readouterr().err
    if command == "similarity":
        assert set(df.bucket) == {"exact", "same_value", "different_value", "exact_minus_rest"}
        assert meta["params"]["n"] == 30 and meta["params"]["n_boot"] == 10 and meta["seed"] == 1
    if command == "lens":
        assert set(df.target) == {"numeral", "word"} and meta["params"]["raw"] is True
    if command == "intervene":
        assert set(df.layer) == {1, 2} and set(df.strength) == {0.0, 1.5}
        rates = pd.read_csv(tmp_path / "intervene_rates.csv")
        assert list(rates.columns) == RATES_CSV
        assert "unsteered accuracy: " in err and "outcome rates are over the solved items" in err
    if command == "trajectories":
        assert list(dict.fromkeys(df.text)) == ["8=5+", "The capital, Paris"]
        anchors = pd.read_csv(tmp_path / "trajectories_anchors.csv", keep_default_na=False)
        assert anchors.label.tolist() == ANCHORS
        assert "explained variance of the anchors' plane" in err


def command_table(command: str) -> str:
    return {"similarity": "curves", "lens": "curves", "intervene": "generations",
            "trajectories": "paths"}[command]


def test_intervene_default_layer_is_the_registry_rule(tiny_model, monkeypatch, tmp_path):
    from hubcore.experiments.registry import default_layer

    model = tiny_model("llama")
    out = tmp_path / "g.csv"
    assert run_command(monkeypatch, model, ["arithmetic", "intervene", "--n", "2", "--strengths", "0",
                                            "--out", str(out)]) == 0
    assert set(pd.read_csv(out).layer) == {default_layer(model)}


def test_trajectories_bad_input_fails_before_the_model_loads(monkeypatch, tmp_path, capsys):
    def no_load(*a, **k):
        raise AssertionError("the model must not load for bad input")

    import hubcore.cli as cli

    monkeypatch.setattr(cli, "_load", no_load)
    out = str(tmp_path / "t.csv")
    assert cli.main(["arithmetic", "trajectories", "--anchors", "one,two", "--out", out]) == 2
    assert cli.main(["arithmetic", "trajectories", "--prompt", " ", "--out", out]) == 2
    assert cli.main(["arithmetic", "intervene", "--max-b", "99", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "anchor words" in err and "max-b must lie in 1..98" in err and "Traceback" not in err


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_arithmetic_same_tables_through_the_remote_dry_run(tiny_model, family):
    from hubcore.experiments.arithmetic import (arithmetic_similarity, arithmetic_trajectories,
                                               numeral_vs_word, plus_one_intervention)

    model = tiny_model(family)
    dry = model.variant("local")
    for fn, kwargs, tol in (
        (arithmetic_similarity, dict(n=30, n_boot=10), 1e-6),
        (numeral_vs_word, dict(n=8, n_boot=10), None),
        (plus_one_intervention, dict(n=4, layers=(1, 2), strengths=(0.0, 2.0), few_shot=True, max_b=9), None),
    ):
        assert_same_tables(fn(model, **kwargs), fn(dry, **kwargs), tol)
    local = arithmetic_trajectories(model, ("8=5+", "The capital"), ANCHORS)
    remote = arithmetic_trajectories(dry, ("8=5+", "The capital"), ANCHORS)
    assert remote.explained_variance_ratio == local.explained_variance_ratio
    pd.testing.assert_frame_equal(local.anchors, remote.anchors, check_exact=True)
    a, b = local.tables["paths"], remote.tables["paths"]
    pd.testing.assert_frame_equal(a.drop(columns=["x", "y"]), b.drop(columns=["x", "y"]), check_exact=True)
    # projected states: within 1e-5 relative (of the plane's scale)
    scale = float(a[["x", "y"]].abs().to_numpy().max())
    assert float((a[["x", "y"]] - b[["x", "y"]]).abs().to_numpy().max()) <= 1e-5 * scale


def test_trajectories_default_prompts_are_replaced_not_extended(tiny_model, monkeypatch, tmp_path):
    from hubcore.experiments.arithmetic import DEFAULT_PREFIXES

    model = tiny_model("llama")
    for extra, want in (([], list(DEFAULT_PREFIXES)), (["--prompt", "El perro"], ["El perro"])):
        out = tmp_path / f"t{len(extra)}.csv"
        args = ["arithmetic", "trajectories", "--anchors", ",".join(ANCHORS), *extra, "--out", str(out)]
        assert run_command(monkeypatch, model, args) == 0
        assert list(dict.fromkeys(pd.read_csv(out, keep_default_na=False).text)) == want
