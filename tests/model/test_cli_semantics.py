"""CLI: `semantics similarity|roles` write exactly the documented columns (default model as a
user runs it; tiny models in-process), and give the same tables through the remote dry run."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from app.registry import ROOT
from tests.support.cli import assert_same_tables, run_command, written

SEM_CSV = ["layer", "baseline", "adjusted", "ci_low", "ci_high"]
ROLES_CSV = ["layer", "gold_role", "read_role", "mean_prob", "ci_low", "ci_high", "adjusted"]


@pytest.mark.default_model
def test_semantics_similarity_cli_columns(tmp_path):
    out = tmp_path / "s.csv"
    res = subprocess.run([sys.executable, "-m", "hubcore", "semantics", "similarity", "--n", "12",
                          "--bootstrap", "20", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "baseline", "adjusted", "ci_low", "ci_high"]
    assert set(df.baseline) == {"nonmatching", "swapped_names", "swapped_shuffled"}
    assert sorted(df.layer.unique()) == list(range(19))


@pytest.mark.default_model
def test_code_lists_cli_columns(tmp_path):
    out = tmp_path / "c.csv"
    res = subprocess.run([sys.executable, "-m", "hubcore", "code", "lists", "--max-programs", "6",
                          "--bootstrap", "20", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
    assert set(df.target) == {"and", "or", "not", "next"}


# ------------------------------------------------------------------ tiny models, in-process


@pytest.mark.parametrize("metric", ["raw", "centered"])
def test_semantics_similarity_command_writes_the_chosen_metric(metric, tiny_model, monkeypatch, tmp_path):
    out = tmp_path / "sem.csv"
    args = ["semantics", "similarity", "--n", "8", "--bootstrap", "10", "--seed", "3", "--out", str(out)]
    if metric == "centered":
        args[2:2] = ["--metric", "centered"]
    assert run_command(monkeypatch, tiny_model("llama"), args) == 0
    df, meta = written(out, "semantics similarity", SEM_CSV)
    assert set(meta["tables"]) == {"similarity", "curves", "levels"}
    assert set(df.baseline) == {"nonmatching", "swapped_names", "swapped_shuffled"}
    both = pd.read_csv(tmp_path / "sem_curves.csv")
    assert set(both.metric) == {"raw", "centered"}
    want = both[both.metric == metric].drop(columns="metric").reset_index(drop=True)
    pd.testing.assert_frame_equal(df, want, check_exact=False, atol=1e-12)
    other = both[both.metric != metric].drop(columns="metric").reset_index(drop=True)
    assert not df.adjusted.equals(other.adjusted)  # --metric really picks the rows
    assert meta["params"]["metric"] == metric and meta["params"]["n"] == 8


def test_semantics_similarity_command_reads_pairs(tiny_model, monkeypatch, tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("Emma helped Liam.\thelp.agent(x1, Emma) AND help.theme(x1, Liam)\n"
                     "Ava saw Noah.\tsee.agent(x1, Ava) AND see.theme(x1, Noah)\n"
                     "The cat slept.\tsleep.agent(x2, x1) AND cat(x1)\n", encoding="utf-8")
    out = tmp_path / "s.csv"
    assert run_command(monkeypatch, tiny_model("llama"), ["semantics", "similarity", "--pairs", str(pairs),
                                                          "--bootstrap", "10", "--out", str(out)]) == 0
    _, meta = written(out, "semantics similarity", SEM_CSV)
    assert [e["sentence"] for e in meta["params"]["examples"]] == ["Emma helped Liam.", "Ava saw Noah.",
                                                                   "The cat slept."]
    assert any("two proper names" in n for n in meta["notes"])


def test_semantics_bad_pairs_file_fails_before_the_model_loads(monkeypatch, tmp_path, capsys):
    import hubcore.cli as cli

    def no_load(*a, **k):
        raise AssertionError("the model must not load for bad input")

    monkeypatch.setattr(cli, "_load", no_load)
    status = cli.main(["semantics", "similarity", "--pairs", str(tmp_path / "missing.tsv"),
                       "--out", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "Could not read" in err and "Traceback" not in err


def test_semantics_roles_command(tiny_model, monkeypatch, tmp_path):
    out = tmp_path / "roles.csv"
    assert run_command(monkeypatch, tiny_model("llama"), ["semantics", "roles", "--n", "8", "--bootstrap",
                                                          "10", "--raw", "--out", str(out)]) == 0
    df, meta = written(out, "semantics roles", ROLES_CSV)
    assert set(meta["tables"]) == {"curves", "positions", "variants"} and meta["params"]["raw"] is True
    assert set(df.read_role) == {"agent", "recipient", "theme"}
    positions = pd.read_csv(tmp_path / "roles_positions.csv")
    assert list(positions.columns) == ["item", "sentence", "name", "gold_role", "read_token"]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_semantics_same_tables_through_the_remote_dry_run(tiny_model, family):
    from hubcore.experiments.semantics import lf_similarity, thematic_roles

    model = tiny_model(family)
    dry = model.variant("local")
    kwargs = dict(n=8, seed=1, n_boot=10)
    assert_same_tables(lf_similarity(model, **kwargs), lf_similarity(dry, **kwargs), 1e-6)
    local, remote = thematic_roles(model, **kwargs), thematic_roles(dry, **kwargs)
    assert_same_tables(local, remote, None)  # lens readings: identical
    assert (local.probs == remote.probs).all()
