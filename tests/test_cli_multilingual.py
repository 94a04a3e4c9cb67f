"""CLI: similarity, languages and anchoring write exactly the documented columns."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from app.registry import ROOT

pytestmark = pytest.mark.default_model


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hubcore", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def zh_en_file(tmp_path_factory):
    from hubcore.data.parallel import hsk_pairs, split_held_out

    _, held = split_held_out(hsk_pairs(), fraction=0.01, seed=3)
    path = tmp_path_factory.mktemp("cli") / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\n" for a, b in held[:30]), encoding="utf-8")
    return path


def test_similarity_cli_columns_and_values(zh_en_file, tmp_path, default_model):
    out = tmp_path / "sim.csv"
    res = _cli("similarity", "--pairs", str(zh_en_file), "--template-a", "{} 这代表",
               "--template-b", "{} This represents", "--bootstrap", "50", "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "metric", "matched", "baseline", "adjusted", "ci_low",
                                "ci_high", "retrieval_at_1"]
    assert set(df.metric) == {"raw", "centered"} and sorted(df.layer.unique()) == list(range(19))
    # the CLI equals the in-process experiment on the same pairs
    from hubcore.data.uploads import parse_pairs
    from hubcore.experiments.multilingual import translation_similarity

    pairs, _ = parse_pairs(zh_en_file.read_bytes(), "pairs.tsv")
    rep = translation_similarity(default_model, pairs, "{} 这代表", "{} This represents", n_boot=50)
    assert (rep.curves.adjusted.values - df.adjusted.values).__abs__().max() < 1e-6


def test_languages_cli(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("今天的天气很好。\n我喜欢喝茶。\n", encoding="utf-8")
    out = tmp_path / "lang.csv"
    res = _cli("languages", "--texts", str(texts), "--languages", "en,zh,es", "--bootstrap", "20",
               "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "language", "prob", "ci_low", "ci_high"]
    assert set(df.language) == {"en", "zh", "es", "other"}


def test_anchoring_cli(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("今天是开心的一天。\n我的老师很好。\n我们明天去学校。\n", encoding="utf-8")
    out = tmp_path / "anc.csv"
    res = _cli("anchoring", "--texts", str(texts), "--lang", "zh", "--bootstrap", "20", "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
    assert set(df.target) == {"english", "next"}


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", "caf\xe9\tcafe\n".encode("latin-1"), b""])
def test_similarity_cli_bad_files_are_one_line_errors(tmp_path, content):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(content)
    res = _cli("similarity", "--pairs", str(bad), "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in res.stderr
