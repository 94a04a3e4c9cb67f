"""CLI: `semantics similarity` writes exactly the documented columns."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from app.registry import ROOT


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
