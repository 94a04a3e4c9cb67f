"""Each audio experiment runs on the embedded Whisper base with tiny settings and returns sane
shapes; every registered `audio ...` command writes exactly the documented columns plus the .json
sidecar; user errors are one sentence with exit status 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hubcore.models import ModelSpec, get_model
from hubcore.audio.sounds import asterisk_clips
from hubcore.cli import main
from hubcore.errors import InputError
from hubcore.experiments import audio as A
from tests.support.audio_helpers import tiny_whisper_handle
from tests.support.cli import run_command, written

SIM_CSV = ["layer", "metric", "matched", "baseline", "adjusted", "ci_low", "ci_high", "retrieval_at_1"]
LENS_CSV = ["layer", "target", "mean_prob", "ci_low", "ci_high", "mean_logprob", "n"]
STEER_CSV = ["item", "transcript", "strength", "text", "has_new", "has_old", "swap"]
RATES_CSV = ["layer", "strength", "outcome", "rate", "ci_low", "ci_high", "n"]


@pytest.fixture(scope="module")
def whisper():
    return get_model(ModelSpec(kind="speech"))


def test_audio_vs_label_shapes(whisper):
    rep = A.audio_vs_label(whisper, lang="en", n=3, n_boot=20)
    df = rep.curves
    assert len(df) == 2 * 7 and set(df.metric) == {"raw", "centered"}
    assert list(df[df.metric == "raw"].layer) == list(range(7))
    raw = df[df.metric == "raw"]
    assert np.allclose(raw.adjusted, raw.matched - raw.baseline)
    assert (raw.matched.between(-1, 1)).all() and len(rep.items) == 3
    assert "<|notimestamps|>" in rep.notes[0]


def test_crosslingual_speech_shapes(whisper):
    rep = A.crosslingual_speech(whisper, lang_a="fr", lang_b="en", n=2, n_boot=20)
    df = rep.curves
    assert set(df["stack"]) == {"encoder", "decoder"} and len(df) == 2 * 2 * 7
    assert df[["matched", "baseline"]].abs().max().max() <= 1 + 1e-9
    assert list(rep.items.columns) == ["id", "fr", "en"]


def test_lens_translation_shapes(whisper):
    rep = A.lens_translation(whisper, lang="es", n=4, n_boot=20, require_in_english=False)
    df = rep.curves
    assert set(df.target) == {"english", "source"} and len(df) == 2 * 7
    assert df.mean_prob.between(0, 1).all() and (df.n > 0).all()
    # at the last layer the source word is Whisper's own (teacher-forced greedy) choice
    last = df[df.layer == 6].set_index("target").mean_prob
    assert last["source"] > 0.3 and last["source"] > last["english"]
    assert len(rep.items) == int(df.n.iloc[0])


def test_steer_word_shapes_and_zero_strength(whisper):
    res = A.steer_word(whisper, old="message", new="letter", layer=6, strengths=(0.0, 150.0), n=1, n_boot=20)
    gens, rates = res.generations, res.rates
    assert len(gens) == 2 and set(rates.outcome) == {"new", "old", "swap"} and len(rates) == 6
    zero = gens[gens.strength == 0].iloc[0]
    assert zero.has_old and not zero.swap  # unsteered, the clip still says its word
    assert gens[gens.strength == 150].iloc[0].text != zero.text  # a strong push changes the text


def test_bad_parameters(whisper):
    with pytest.raises(InputError, match="layer"):
        A.steer_word(whisper, layer=9)
    with pytest.raises(InputError, match="same token"):
        A.steer_word(whisper, old="message", new=" message ")
    with pytest.raises(InputError, match="two different"):
        A.crosslingual_speech(whisper, lang_a="en", lang_b="en")
    clip = asterisk_clips("en")[0].path
    with pytest.raises(InputError, match="language code"):
        A.transcribe(whisper, [clip], language="xx")


def test_cli_similarity_and_errors(tmp_path, capsys):
    out = tmp_path / "label.csv"
    assert main(["audio", "similarity", "--kind", "label", "--lang-a", "en", "--n", "2",
                 "--bootstrap", "10", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == SIM_CSV
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    capsys.readouterr()
    assert main(["audio", "transcribe", "--audio", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 'bad.wav' could not be decoded")
    assert main(["audio", "lens", "--out", str(tmp_path)]) == 2  # a folder, caught before loading


@pytest.fixture(scope="module")
def tiny_whisper():
    return tiny_whisper_handle()


def test_cli_transcribe_writes_its_columns_and_prints_the_transcripts(tiny_whisper, monkeypatch, tmp_path, capsys):
    paths = [c.path for c in asterisk_clips("es")[:2]]
    out = tmp_path / "t.csv"
    assert run_command(monkeypatch, tiny_whisper, ["audio", "transcribe", "--audio", *paths, "--language", "es",
                                                   "--out", str(out)]) == 0
    df, meta = written(out, "audio transcribe", ["item", "language", "text"])
    assert list(df.item) == paths and set(df.language) == {"es"}
    printed = capsys.readouterr().out.strip().splitlines()  # the transcripts are the command's stdout
    assert printed == [f"{r.item}\t[es]\t{r.text}" for r in df.itertuples()]
    assert meta["params"]["language"] == "es"


def test_cli_transcribe_without_out_only_prints(tiny_whisper, monkeypatch, tmp_path, capsys):
    path = asterisk_clips("en")[0].path
    assert run_command(monkeypatch, tiny_whisper, ["audio", "transcribe", "--audio", path]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["label", "crosslingual"])
def test_cli_similarity_writes_its_columns(kind, tiny_whisper, monkeypatch, tmp_path):
    out = tmp_path / f"{kind}.csv"
    args = ["audio", "similarity", "--kind", kind, "--lang-a", "fr", "--n", "2", "--bootstrap", "10",
            "--out", str(out)]
    assert run_command(monkeypatch, tiny_whisper, args) == 0
    columns = (["stack"] if kind == "crosslingual" else []) + SIM_CSV  # stack first, as before
    df, meta = written(out, "audio similarity", columns)
    assert meta["params"]["kind"] == kind and (tmp_path / f"{kind}_items.csv").exists()


def test_cli_steer_writes_generations_and_rates(tiny_whisper, monkeypatch, tmp_path):
    out = tmp_path / "d.csv"
    args = ["audio", "steer", "--layer", "1", "--strengths", "0,2", "--n", "1", "--bootstrap", "10", "--once",
            "--out", str(out)]
    assert run_command(monkeypatch, tiny_whisper, args) == 0
    df, meta = written(out, "audio steer", STEER_CSV)
    assert sorted(df.strength) == [0.0, 2.0] and meta["params"]["once"] is True
    rates = pd.read_csv(tmp_path / "d_rates.csv")
    assert list(rates.columns) == RATES_CSV and set(rates.outcome) == {"new", "old", "swap"}


def test_cli_lens_writes_its_columns(whisper, monkeypatch, tmp_path):
    out = tmp_path / "c.csv"
    args = ["audio", "lens", "--lang", "es", "--n", "4", "--bootstrap", "10", "--any-translation", "--out", str(out)]
    assert run_command(monkeypatch, whisper, args) == 0
    df, meta = written(out, "audio lens", LENS_CSV)
    assert set(df.target) == {"english", "source"}
    assert meta["params"]["require_in_english"] is False  # --any-translation
    want = A.lens_translation(whisper, lang="es", n=4, n_boot=10, require_in_english=False).csv_frame()
    pd.testing.assert_frame_equal(df, want, check_dtype=False)


def test_bad_steer_strengths_fail_before_the_model_loads(monkeypatch, capsys):
    import hubcore.cli as cli

    def no_load(*_a, **_k):
        raise AssertionError("the model must not load")

    monkeypatch.setattr(cli, "_load", no_load)
    with pytest.raises(SystemExit) as stop:
        cli.main(["audio", "steer", "--strengths", "0,x", "--out", "d.csv"])
    assert stop.value.code == 2 and "comma-separated list" in capsys.readouterr().err
    assert cli.main(["audio", "lens", "--n", "0", "--out", "c.csv"]) == 2
    assert "n must lie in" in capsys.readouterr().err
