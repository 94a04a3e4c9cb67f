"""Audio loading: real recordings decode to 16 kHz mono; bad audio gets one clear sentence."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from hubcore.audio.sounds import (SAMPLE_RATE, asterisk_clips, freedesktop_sounds, load_audio,
                                  parallel_clips)
from hubcore.errors import InputError


def _wav(samples: np.ndarray, rate: int = 16000, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt)
    return buf.getvalue()


def test_asterisk_recording_resampled_to_16k():
    clip = {c.id: c for c in asterisk_clips("es")}["conf-invalid"]
    info = sf.info(clip.path)
    x = load_audio(clip.path)
    assert info.samplerate == 8000 and x.dtype == np.float32 and x.ndim == 1
    assert abs(len(x) / SAMPLE_RATE - info.duration) < 0.01
    assert "conferencia" in clip.text.lower()


def test_stereo_ogg_and_flac_become_mono():
    sounds = freedesktop_sounds()
    assert "bell" in sounds
    x = load_audio(sounds["bell"])  # 44.1 kHz stereo Vorbis
    assert x.ndim == 1 and abs(len(x) / SAMPLE_RATE - sf.info(sounds["bell"]).duration) < 0.01
    t = np.linspace(0, 1, 22050, endpoint=False)
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    y = load_audio(_wav(stereo, 22050, "FLAC"))
    assert len(y) == SAMPLE_RATE and np.abs(y).max() == pytest.approx(0.25, rel=0.05)


def test_parallel_clips_share_ids_across_languages():
    groups = parallel_clips(("en", "es", "fr"), n=5, seed=1)
    assert len(groups) == 5
    for g in groups:
        assert len({c.id for c in g.values()}) == 1 and set(g) == {"en", "es", "fr"}


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", "could not be decoded"),
    (b"%PDF-1.4 not audio at all" * 10, "could not be decoded"),
    (_wav(np.zeros(16000)), "silent"),
    (_wav(np.zeros((0,))), "zero length"),
    (_wav(0.1 * np.random.default_rng(0).standard_normal(16000 * 31)), "30 s"),
])
def test_bad_audio_one_sentence(data, words):
    with pytest.raises(InputError) as err:
        load_audio(data)
    message = str(err.value)
    assert words in message and "\n" not in message and "0x" not in message


def test_missing_and_huge_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    huge = tmp_path / "huge.wav"
    with open(huge, "wb") as fh:
        fh.truncate(60 * 1024 * 1024)
    with pytest.raises(InputError, match="MB"):
        load_audio(huge)
