"""Each audio experiment runs on the embedded Whisper base with tiny settings and returns sane
shapes; the CLI writes the same tables; user errors are one sentence with exit status 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hubcore.models import ModelSpec, get_model
from hubcore.audio.sounds import asterisk_clips
from hubcore.cli import main
from hubcore.errors import InputError
from hubcore.experiments import audio as A


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
    gens, rates = A.steer_word(whisper, old="message", new="letter", layer=6,
                               strengths=(0.0, 150.0), n=1, n_boot=20)
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
    assert list(df.columns) == ["layer", "metric", "matched", "baseline", "adjusted", "ci_low",
                                "ci_high", "retrieval_at_1"]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    capsys.readouterr()
    assert main(["audio", "transcribe", "--audio", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 'bad.wav' could not be decoded")
    assert main(["audio", "lens", "--out", str(tmp_path)]) == 2  # a folder, caught before loading
