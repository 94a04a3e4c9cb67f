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
