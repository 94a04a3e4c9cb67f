"""`python -m hubcore ...` as a user runs it (subprocesses), checked against plain transformers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TEXT = "今天是开心的一"


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # inherits HUBCORE_CACHE_DIR when it is set
    return subprocess.run(
        [sys.executable, "-m", "hubcore", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    """Exit status 2, no traceback, and exactly one `error: ...` line, which is the last one."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    err = proc.stderr
    assert "Traceback" not in err and "Traceback" not in proc.stdout
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", err) if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert lines[-1] == errors[0]
    assert len(errors[0]) > len("error: ") + 10
    return errors[0]


@pytest.fixture(scope="module")
def lens_csv(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("cli") / "x.csv"
    proc = run_cli("lens", "--text", TEXT, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "layer,position,input_token,rank,token,prob"
    df = pd.read_csv(out, keep_default_na=False, dtype={"input_token": str, "token": str})
    assert f"wrote {len(df)} rows" in proc.stderr
    return df


@pytest.fixture(scope="module")
def plain_transformers():
    """The default model loaded with plain transformers only (no hubcore code on the path)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hubcore.models.default import default_model_dir

    path = default_model_dir()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(path)
    return model, tok


@pytest.mark.default_model
def test_lens_csv_shape(lens_csv):
    df = lens_csv
    assert list(df.columns) == ["layer", "position", "input_token", "rank", "token", "prob"]
    assert sorted(df.layer.unique()) == list(range(19))  # 0 = embeddings .. 18 = last block
    n_pos = df.position.nunique()
    assert sorted(df.position.unique()) == list(range(n_pos))
    assert len(df) == 19 * n_pos * 5  # default --top-k 5
    assert df["rank"].between(1, 5).all()
    assert df.prob.between(0, 1).all()
    # input_token labels are the same at every layer, one per position
    assert df.groupby("position").input_token.nunique().eq(1).all()


@pytest.mark.default_model
def test_lens_last_layer_matches_plain_transformers(lens_csv, plain_transformers):
    model, tok = plain_transformers
    enc = tok(TEXT, return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits[0].float().softmax(-1)  # [T, V]
    n_tok = enc["input_ids"].shape[1]
    df = lens_csv
    assert df.position.nunique() == n_tok
    top1 = df[(df.layer == 18) & (df["rank"] == 1)].sort_values("position")
    assert len(top1) == n_tok
    want_p, want_id = probs.max(-1)
    # the last position is the prediction that matters; check every position anyway
    for pos in range(n_tok):
        row = top1[top1.position == pos].iloc[0]
        assert abs(float(row.prob) - float(want_p[pos])) < 1e-4, pos
        assert row.token == tok.decode([int(want_id[pos])], clean_up_tokenization_spaces=False), pos
    last = top1.iloc[-1]
    assert last.position == n_tok - 1
    # the five ranks at the last position are the model's five most likely tokens
    ranks = df[(df.layer == 18) & (df.position == n_tok - 1)].sort_values("rank")
    want5 = probs[-1].topk(5)
    assert ranks.token.tolist() == [tok.decode([int(i)], clean_up_tokenization_spaces=False)
                                    for i in want5.indices]
    assert max(abs(a - float(b)) for a, b in zip(ranks.prob, want5.values)) < 1e-4


def test_help():
    top = run_cli("--help", timeout=120)
    assert top.returncode == 0
    assert "lens" in top.stdout and "models" in top.stdout
    lens = run_cli("lens", "--help", timeout=120)
    assert lens.returncode == 0
    for flag in ("--text", "--out", "--top-k", "--raw", "--model", "--dtype", "--device"):
        assert flag in lens.stdout
    assert "layer,position,input_token,rank,token,prob" in lens.stdout


def test_models_lists_families():
    proc = run_cli("models", timeout=120)
    assert proc.returncode == 0
    assert "gemma3_text" in proc.stdout
    from hubcore.models import TESTED_FAMILIES

    for family in TESTED_FAMILIES:
        assert re.search(rf"^\s+{re.escape(family)}\s", proc.stdout, re.M), family


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_is_a_one_line_error(tmp_path, text):
    out = tmp_path / "x.csv"
    proc = run_cli("lens", "--text", text, "--out", str(out), timeout=120)
    msg = assert_one_line_error(proc)
    assert "empty" in msg
    assert not out.exists()


def test_unknown_model_is_a_one_line_error(tmp_path):
    out = tmp_path / "x.csv"
    name = "no-such-org/no-such-model-hubcore-test"
    proc = run_cli("lens", "--text", "hello", "--model", name, "--out", str(out), timeout=120)
    msg = assert_one_line_error(proc)
    assert name in msg
    assert not out.exists()


def test_missing_required_argument_is_a_usage_error():
    proc = run_cli("lens", "--out", "x.csv", timeout=120)
    assert proc.returncode == 2
    assert "--text" in proc.stderr and "Traceback" not in proc.stderr


# ------------------------------------------------- in-process, with a tiny model (fast paths)


@pytest.fixture
def cli_on_tiny(tiny_model, monkeypatch):
    """`hubcore.cli.main` with model loading replaced by a tiny random Gemma-3."""
    import hubcore.cli as cli

    model = tiny_model("gemma3_text")
    monkeypatch.setattr(cli, "_load", lambda args, kind="text": model)
    return cli.main, model


def test_cli_lens_writes_the_experiment_frame(cli_on_tiny, tmp_path):
    from hubcore.experiments.logit_lens import logit_lens

    main, model = cli_on_tiny
    text = "The capital of Spain is"
    for raw in (False, True):
        out = tmp_path / f"lens-{raw}.csv"
        args = ["lens", "--text", text, "--top-k", "3", "--out", str(out)] + (["--raw"] if raw else [])
        assert main(args) == 0
        got = pd.read_csv(out, keep_default_na=False, dtype={"input_token": str, "token": str})
        want = logit_lens(model, text, top_k=3, raw=raw).csv_frame()
        assert list(got.columns) == list(want.columns)
        assert got.token.tolist() == want.token.tolist()
        assert (got.prob - want.prob).abs().max() < 1e-6
    normed = pd.read_csv(tmp_path / "lens-False.csv")
    raw_df = pd.read_csv(tmp_path / "lens-True.csv")
    assert (normed.prob - raw_df.prob).abs().max() > 1e-4  # --raw reaches the lens


@pytest.mark.parametrize("top_k", ["0", "51"])
def test_cli_bad_top_k_is_a_one_line_error(cli_on_tiny, tmp_path, capsys, top_k):
    main, _ = cli_on_tiny
    assert main(["lens", "--text", "hello", "--top-k", top_k, "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "error: top-k" in err and "Traceback" not in err


@pytest.mark.parametrize("kind", ["missing-folder", "a-directory"])
def test_cli_unwritable_out_is_a_one_line_error(cli_on_tiny, tmp_path, capsys, kind):
    """A bad --out is a user error: exit status 2 and one `error:` line, not a traceback."""
    main, _ = cli_on_tiny
    out = tmp_path / "nope" / "x.csv" if kind == "missing-folder" else tmp_path
    try:
        status = main(["lens", "--text", "hello", "--out", str(out)])
    except OSError as exc:
        pytest.fail(f"--out {kind}: {type(exc).__name__} escaped as a traceback: {exc}")
    assert status == 2
    err = capsys.readouterr().err
    assert re.search(r"^error: .+$", err.replace("\r", "\n"), re.M)
