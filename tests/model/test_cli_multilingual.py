"""CLI: similarity, languages and anchoring write exactly the documented columns (default model as
a user runs it; tiny models in-process), take built-in set names, and give the same tables
through the remote dry run."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from app.registry import ROOT

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


@pytest.mark.default_model
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


@pytest.mark.default_model
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


@pytest.mark.default_model
def test_anchoring_cli(tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("今天是开心的一天。\n我的老师很好。\n我们明天去学校。\n", encoding="utf-8")
    out = tmp_path / "anc.csv"
    res = _cli("anchoring", "--texts", str(texts), "--lang", "zh", "--bootstrap", "20", "--out", str(out))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(out)
    assert list(df.columns) == ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
    assert set(df.target) == {"english", "next"}


@pytest.mark.default_model
@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", "caf\xe9\tcafe\n".encode("latin-1"), b""])
def test_similarity_cli_bad_files_are_one_line_errors(tmp_path, content):
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(content)
    res = _cli("similarity", "--pairs", str(bad), "--out", str(tmp_path / "x.csv"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error:")
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------ tiny models, in-process

SIM_CSV = ["layer", "metric", "matched", "baseline", "adjusted", "ci_low", "ci_high", "retrieval_at_1"]
ANC_CSV = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
LANG_CSV = ["layer", "language", "prob", "ci_low", "ci_high"]
GERMAN = "German–English (handwritten)"
ES_TEXTS = ["La capital de Francia es París.", "El perro de la casa es muy grande.",
            "La capital es Madrid.", "El gato de mi casa es negro."]
ES_LEXICON = {"la": "the", "capital": "capital", "de": "of", "Francia": "France", "es": "is",
              "París": "Paris", "casa": "house", "perro": "dog", "gato": "cat"}


@pytest.fixture
def lang_cache(tmp_path, monkeypatch):
    """p(language | token) tables of the tiny tokenizer go to a temporary cache."""
    monkeypatch.setenv("HUBCORE_CACHE_DIR", str(tmp_path / "cache"))


def _files(tmp_path):
    texts = tmp_path / "es.txt"
    texts.write_text("\n".join(ES_TEXTS) + "\n", encoding="utf-8")
    lexicon = tmp_path / "lex.tsv"
    lexicon.write_text("".join(f"{a}\t{b}\n" for a, b in ES_LEXICON.items()), encoding="utf-8")
    return texts, lexicon


def test_similarity_command_writes_columns_and_metadata(tiny_model, monkeypatch, tmp_path, capsys):
    from hubcore.data.parallel import bundled_pairs
    from hubcore.experiments.multilingual import translation_similarity
    from tests.support.cli import run_command, written

    model = tiny_model("llama")
    pairs = bundled_pairs("de").pairs[:12]
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"{a}\t{b}\n" for a, b in pairs), encoding="utf-8")
    out = tmp_path / "sim.csv"
    args = ["similarity", "--pairs", str(path), "--template-a", "{} Das bedeutet", "--template-b",
            "{} This represents", "--bootstrap", "10", "--seed", "2", "--out", str(out)]
    assert run_command(monkeypatch, model, args) == 0
    df, meta = written(out, "similarity", SIM_CSV)
    assert set(meta["tables"]) == {"curves"} and meta["params"]["n_boot"] == 10 and meta["seed"] == 2
    assert set(df.metric) == {"raw", "centered"} and sorted(set(df.layer)) == list(range(model.num_layers + 1))
    want = translation_similarity(model, pairs, "{} Das bedeutet", "{} This represents", n_boot=10, seed=2)
    assert want.n_pairs == 12
    assert (df.adjusted - want.curves.adjusted).abs().max() < 1e-9


def test_pairs_and_texts_take_a_built_in_set_name(tiny_model, monkeypatch, tmp_path, capsys, lang_cache):
    """`--pairs`/`--texts` name a built-in set as the page shows it; the sample is the file rule."""
    from hubcore.data.parallel import bundled_pairs, sample_rows
    from hubcore.experiments.multilingual import language_probabilities, translation_similarity
    from tests.support.cli import run_command, written

    model = tiny_model("llama")
    out = tmp_path / "sim.csv"
    assert run_command(monkeypatch, model, ["similarity", "--pairs", GERMAN, "--max-pairs", "10",
                                            "--bootstrap", "5", "--out", str(out)]) == 0
    assert "note: Sampled 10 of" in capsys.readouterr().err
    pairs, _ = sample_rows(bundled_pairs("de").pairs, 10)
    want = translation_similarity(model, pairs, n_boot=5)
    pd.testing.assert_frame_equal(written(out, "similarity", SIM_CSV)[0], want.csv_frame(), atol=1e-9)
    # loosely typed (a hyphen, any case) works too; texts are the set's first column
    out = tmp_path / "lang.csv"
    assert run_command(monkeypatch, model, ["languages", "--texts", "german-english (handwritten)",
                                            "--languages", "en,de", "--max-texts", "3", "--bootstrap",
                                            "5", "--out", str(out)]) == 0
    texts, _ = sample_rows([a for a, _ in bundled_pairs("de").pairs], 3)
    want = language_probabilities(model, texts, ["en", "de"], n_boot=5)
    pd.testing.assert_frame_equal(written(out, "languages", LANG_CSV)[0], want.csv_frame(), atol=1e-9)


@pytest.mark.parametrize("command,option", [("similarity", "--pairs"), ("languages", "--texts"),
                                            ("anchoring", "--texts")])
def test_unknown_source_is_one_sentence_before_any_model_loads(command, option, monkeypatch, tmp_path, capsys):
    import hubcore.cli as cli

    def no_load(*_a, **_k):
        raise AssertionError("the model must not load for a bad input")

    monkeypatch.setattr(cli, "_load", no_load)
    args = [command, option, "Klingon–English (poems)", "--out", str(tmp_path / "x.csv")]
    status = cli.main(args + (["--lang", "zh"] if command == "anchoring" else []))
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Could not read 'Klingon–English (poems)'")
    assert "'Chinese–English (HSK sentences)'" in lines[0] and GERMAN in lines[0]
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("command", ["similarity", "languages", "anchoring"])
def test_help_lists_the_built_in_sets(command, capsys):
    import hubcore.cli as cli
    from hubcore.data.parallel import available_pair_sets

    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for name in available_pair_sets():
        assert " ".join(f"'{name}'".split()) in shown


def test_bad_template_fails_before_the_model_loads(monkeypatch, tmp_path, capsys):
    import hubcore.cli as cli

    monkeypatch.setattr(cli, "_load", lambda *_a, **_k: pytest.fail("model loaded"))
    status = cli.main(["similarity", "--pairs", GERMAN, "--template-a", "no slot", "--out",
                       str(tmp_path / "x.csv")])
    assert status == 2 and "exactly one {}" in capsys.readouterr().err


def test_anchoring_command_writes_all_tables(tiny_model, monkeypatch, tmp_path, capsys):
    from hubcore.experiments.anchoring import anchoring
    from tests.support.cli import run_command, written

    model = tiny_model("llama")
    texts, lexicon = _files(tmp_path)
    out = tmp_path / "anc.csv"
    args = ["anchoring", "--texts", str(texts), "--lang", "es", "--lexicon", str(lexicon),
            "--bootstrap", "10", "--out", str(out)]
    assert run_command(monkeypatch, model, args) == 0
    err = capsys.readouterr().err
    assert "positions in 4 texts; skipped words:" in err and "at layers:" in err
    df, meta = written(out, "anchoring", ANC_CSV)
    assert list(meta["tables"]) == ["curves", "difference", "items", "item_logprobs"]
    assert set(df.target) == {"english", "next"}
    want = anchoring(model, ES_TEXTS, "es", ES_LEXICON, n_boot=10)
    pd.testing.assert_frame_equal(df, want.csv_frame(), atol=1e-9)
    diff = pd.read_csv(tmp_path / "anc_difference.csv")
    assert list(diff.columns) == ["layer", "mean_diff", "ci_low", "ci_high", "frac_english_higher", "n"]
    assert want.english_wins == [int(x) for x in diff.loc[diff.ci_low > 0, "layer"]]
    items = pd.read_csv(tmp_path / "anc_items.csv", keep_default_na=False)
    assert len(items) == len(want.items) and "english_token" in items.columns
    per_item = pd.read_csv(tmp_path / "anc_item_logprobs.csv", keep_default_na=False)
    assert list(per_item.columns) == ["item", "layer", "english_logprob", "next_logprob", "top1_token"]
    assert len(per_item) == len(items) * (model.num_layers + 1)


def test_languages_command_writes_columns_and_metadata(tiny_model, monkeypatch, tmp_path, lang_cache):
    from tests.support.cli import run_command, written

    texts, _ = _files(tmp_path)
    out = tmp_path / "lang.csv"
    assert run_command(monkeypatch, tiny_model("llama"), ["languages", "--texts", str(texts), "--languages",
                                                          "en,es", "--raw", "--bootstrap", "10",
                                                          "--out", str(out)]) == 0
    df, meta = written(out, "languages", LANG_CSV)
    assert set(meta["tables"]) == {"curves"} and meta["params"]["raw"] is True
    assert set(df.language) == {"en", "es", "other"}


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_same_tables_through_the_remote_dry_run(tiny_model, family, lang_cache):
    from hubcore.experiments.anchoring import anchoring
    from hubcore.experiments.multilingual import language_probabilities, translation_similarity
    from tests.support.cli import assert_same_tables

    model = tiny_model(family)
    dry = model.variant("local")
    pairs = [(a, b) for a, b in zip(ES_TEXTS, ["The capital of France is Paris.",
                                               "The dog of the house is very big.",
                                               "The capital is Madrid.", "My house's cat is black."])]
    kwargs = dict(template_a="{} Esto representa", template_b="{} This represents", n_boot=10)
    assert_same_tables(translation_similarity(model, pairs, **kwargs),
                       translation_similarity(dry, pairs, **kwargs), 1e-6)
    local = anchoring(model, ES_TEXTS, "es", ES_LEXICON, n_boot=10)
    remote = anchoring(dry, ES_TEXTS, "es", ES_LEXICON, n_boot=10)
    assert_same_tables(local, remote, None)  # lens readings: identical
    assert local.english_wins == remote.english_wins and local.skipped == remote.skipped
    local = language_probabilities(model, ES_TEXTS, ["en", "es"], n_boot=10)
    remote = language_probabilities(dry, ES_TEXTS, ["en", "es"], n_boot=10)
    assert_same_tables(local, remote, None)
    assert (local.per_text == remote.per_text).all()


def test_page_reproduce_command_runs_as_is(tiny_model, monkeypatch, tmp_path, lang_cache):
    """The page's "reproduce this run" for a built-in set is a runnable command line that
    computes what the page computed (the same sample of the same set)."""
    import shlex

    from hubcore.experiments.multilingual import (TEMPLATES, language_probabilities,
                                                  translation_similarity)
    from hubcore.experiments.registry import of, reproduce_command
    from tests.support.cli import run_command

    model = tiny_model("llama")
    for fn, values in (
        (translation_similarity, {"pairs": GERMAN, "template_a": TEMPLATES["de"], "template_b": TEMPLATES["en"],
                                  "n_boot": 10, "seed": 0, "max_pairs": 8}),
        (language_probabilities, {"texts": GERMAN, "languages": ["en", "de"], "raw": False, "n_boot": 10,
                                  "seed": 0, "max_texts": 4}),
    ):
        exp = of(fn)
        kwargs, _ = exp.call_kwargs(values)
        page = fn(model, **kwargs)
        out = tmp_path / f"{exp.name}.csv"
        command = shlex.split(reproduce_command(exp, values, out=str(out)))
        assert command[:3] == ["python", "-m", "hubcore"] and GERMAN in command
        assert run_command(monkeypatch, model, command[3:]) == 0
        pd.testing.assert_frame_equal(pd.read_csv(out), page.csv_frame(), atol=1e-9)


def test_an_uploaded_file_reproduces_under_its_own_name():
    """The page hands an upload's bytes beside its file name; the command names the file."""
    from hubcore.experiments.multilingual import UPLOAD, translation_similarity
    from hubcore.experiments.registry import of, reproduce_command

    exp = of(translation_similarity)
    values = {**exp.defaults(), "pairs": "mine.tsv", "max_pairs": 100}
    kwargs, notes = exp.call_kwargs({**values, UPLOAD: b"hola\thello\nperro\tdog\ngato\tcat\n"})
    assert kwargs["pairs"] == (("hola", "hello"), ("perro", "dog"), ("gato", "cat")) and notes == []
    assert reproduce_command(exp, values).startswith("python -m hubcore similarity --pairs mine.tsv --max-pairs 100")
