"""Every audio computation through the remote path: on a handle variant with `remote="local"`
(nnsight's serverless dry run: serialised as for NDIF, this project's modules hidden, run) each
Whisper step and each audio experiment gives the same result as the plain local run. Tiny random
Whisper / Qwen2-Audio models, and the embedded Whisper base for the lens experiment (its only
use here: it needs real words in the transcripts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hubcore.audio import whisper as W
from hubcore.audio.sounds import asterisk_clips
from hubcore.experiments import audio as A
from hubcore.models import ModelSpec, get_model
from hubcore.models.remote import TRAFFIC
from tests.support.audio_helpers import tiny_qwen2_audio, tiny_whisper_handle, whisper_processors
from tests.support.cli import assert_same_tables


def _close(a, b, rel: float = 1e-5) -> None:
    scale = float(b.abs().max()) or 1.0
    assert float((a - b).abs().max()) <= rel * scale


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame, tol: float = 1e-6) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def tiny():
    local = tiny_whisper_handle()
    return local, local.variant("local")


@pytest.fixture(scope="module")
def clips():
    by_id = {c.id: c for c in asterisk_clips("en")}
    return [by_id["conf-invalid"].audio(), by_id["vm-goodbye"].audio()]


def test_variant_shares_weights_and_says_where_it_runs(tiny):
    local, dry = tiny
    assert dry.remote == "local" and dry.hf is local.hf and dry.lock is local.lock
    assert dry.is_whisper and dry.n_encoder_layers == 2 and dry.n_decoder_layers == 2
    assert "dry run" in dry.card.runs_on and ("Encoder / decoder blocks", "2 / 2") in dry.card.as_rows()
    assert local.card.lens_check < 1e-4


def test_whisper_steps_match_through_the_dry_run(tiny, clips):
    local, dry = tiny
    feats = W.features(local, clips)
    enc_local = W.encode(local, feats)
    enc_dry = W.encode(dry, feats)
    assert enc_local.states is not None and enc_dry.states is None  # the shortcut is local-only
    _close(W.encoder_states(dry, feats), enc_local.states)
    prompts = [W.prompt_ids(local, "en"), W.prompt_ids(local, "fr", prefix="Au revoir")]
    before = TRAFFIC.requests
    a = W.capture(local, enc_local, prompts, encoder=True)
    b = W.capture(dry, enc_dry, prompts, encoder=True)
    assert TRAFFIC.requests > before  # the dry run really went through the remote path
    _close(b.encoder, a.encoder)
    _close(b.decoder, a.decoder)
    assert a.lengths == b.lengths
    frames = [W.speech_frames(local, c) for c in clips]
    pooled = W.capture(dry, feats, prompts, encoder=True, frames=frames)
    for j, n in enumerate(frames):  # the in-trace mean equals the mean of the full states
        _close(pooled.encoder[j], a.encoder[j, :n].mean(dim=0))
    assert W.detect_language(dry, enc_dry) == W.detect_language(local, enc_local)
    same = [W.prompt_ids(local, "en")] * 2
    assert W.greedy_decode(dry, enc_dry, same, max_new_tokens=12) == \
        W.greedy_decode(local, enc_local, same, max_new_tokens=12)
    vec = torch.randn(local.hidden_size, generator=torch.Generator().manual_seed(0))
    steer = W.Steer(layer=1, vector=vec, strengths=[0.0, 3.0], stop_token=None)
    steered = W.greedy_decode(local, enc_local, same, max_new_tokens=12, steer=steer)
    assert W.greedy_decode(dry, enc_dry, same, max_new_tokens=12, steer=steer) == steered
    _close(W.head_rows(dry, [400, 401]), W.head_rows(local, [400, 401]))
    seq = same[0] + steered[0][:5]
    la = W.lens_positions(local, enc_local[0:1], seq, [3, 4, 5], [400, 401], top_k=3)
    lb = W.lens_positions(dry, enc_dry[0:1], seq, [3, 4, 5], [400, 401], top_k=3)
    assert torch.equal(la[0], lb[0])
    _close(lb[1], la[1])
    _close(lb[2], la[2])


def test_zero_steering_is_the_plain_decode(tiny, clips):
    """The block-by-block steered step equals Whisper's own forward when the push is zero."""
    local, _ = tiny
    enc = W.encode(local, W.features(local, clips))
    prompts = [W.prompt_ids(local, "en"), W.prompt_ids(local, "es")]
    plain = W.greedy_decode(local, enc, prompts, max_new_tokens=20)
    steer = W.Steer(layer=2, vector=torch.ones(local.hidden_size), strengths=[0.0])
    assert W.greedy_decode(local, enc, prompts, max_new_tokens=20, steer=steer) == plain
    assert max(len(p) for p in plain) > 5


def test_qwen2_audio_capture_through_the_dry_run():
    from hubcore.models.speech import wrap_speech_model

    fx, tok = whisper_processors()
    local = wrap_speech_model(tiny_qwen2_audio(), fx, tok, name="tiny-qwen2-audio")
    dry = local.variant("local")
    noise = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    inputs = dict(input_ids=torch.tensor([[1, 2] + [999] * 750 + [3, 4, 5]]),
                  input_features=W.features(local, [noise]),
                  feature_attention_mask=torch.ones(1, 3000, dtype=torch.long))
    enc_a, dec_a = W.capture_stacks(local, **inputs)
    enc_b, dec_b = W.capture_stacks(dry, **inputs)
    _close(enc_b, enc_a)
    _close(dec_b, dec_a)


def test_transcribe_same_remotely(tiny):
    local, dry = tiny
    paths = [c.path for c in asterisk_clips("es")[:2]]
    a = A.transcribe(local, paths, max_new_tokens=16)
    b = A.transcribe(dry, paths, max_new_tokens=16)
    pd.testing.assert_frame_equal(a.transcripts, b.transcripts)
    assert_same_tables(a, b, None)  # the registered result: identical transcripts
    forced = A.transcribe(dry, paths[:1], language="fr", max_new_tokens=16)
    pd.testing.assert_frame_equal(forced.transcripts,
                                  A.transcribe(local, paths[:1], language="fr", max_new_tokens=16).transcripts)


def test_audio_vs_label_same_remotely(tiny):
    local, dry = tiny
    a = A.audio_vs_label(local, lang="en", n=3, n_boot=20)
    b = A.audio_vs_label(dry, lang="en", n=3, n_boot=20)
    _frames_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.items, b.items)
    # the registered command (`audio similarity --kind label`) gives the same tables remotely
    kw = dict(kind="label", lang_a="en", n=3, n_boot=20)
    reg_a, reg_b = A.audio_similarity(local, **kw), A.audio_similarity(dry, **kw)
    assert_same_tables(reg_a, reg_b, 1e-6)
    _frames_equal(reg_a.curves, a.curves)


def test_crosslingual_speech_same_remotely(tiny):
    local, dry = tiny
    a = A.crosslingual_speech(local, lang_a="es", lang_b="en", n=3, n_boot=20)
    b = A.crosslingual_speech(dry, lang_a="es", lang_b="en", n=3, n_boot=20)
    _frames_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.items, b.items)
    kw = dict(kind="crosslingual", lang_a="es", lang_b="en", n=3, n_boot=20)
    reg_a, reg_b = A.audio_similarity(local, **kw), A.audio_similarity(dry, **kw)
    assert_same_tables(reg_a, reg_b, 1e-6)
    _frames_equal(reg_a.curves, a.curves)


def test_steer_word_same_remotely(tiny):
    local, dry = tiny
    kw = dict(old="message", new="letter", layer=1, strengths=(0.0, 2.0), n=2, n_boot=20, once=True)
    a, b = A.steer_word(local, **kw), A.steer_word(dry, **kw)
    pd.testing.assert_frame_equal(a.generations, b.generations)  # token-identical transcripts
    _frames_equal(a.rates, b.rates)
    assert_same_tables(a, b, 1e-6)


def test_lens_translation_same_remotely():
    whisper = get_model(ModelSpec(kind="speech"))
    dry = get_model(ModelSpec(kind="speech", remote="local"))
    assert dry.hf is whisper.hf  # the registry shares the weights of the off/local twins
    a = A.lens_translation(whisper, lang="es", n=2, n_boot=20, require_in_english=False)
    b = A.lens_translation(dry, lang="es", n=2, n_boot=20, require_in_english=False)
    pd.testing.assert_frame_equal(a.items, b.items)  # same transcripts, positions, top-1 tokens
    _frames_equal(a.curves, b.curves, tol=1e-5)
    assert set(a.tables) == set(b.tables) and b.meta["remote"]["target"] == "local"


def test_ndif_spec_builds_a_weightless_skeleton_and_fails_in_one_sentence(tmp_path):
    """A speech spec that runs on (a self-hosted) NDIF loads no weights here: nnsight builds the
    model on the meta device, and the load-time lens check is shipped, failing offline with one
    sentence instead of a traceback."""
    from hubcore.errors import HubError
    from hubcore.models.speech import load_speech_model
    from tests.support.audio_helpers import tiny_whisper

    fx, tok = whisper_processors()
    folder = tmp_path / "whisper"
    tiny_whisper().save_pretrained(folder)
    fx.save_pretrained(folder)
    tok.save_pretrained(folder)
    with pytest.raises(HubError) as err:
        load_speech_model(ModelSpec(kind="speech", source=str(folder), remote="http://127.0.0.1:9"))
    assert "\n" not in str(err.value)
    with pytest.raises(HubError, match="not hosted"):
        load_speech_model(ModelSpec(kind="speech", remote="ndif"))  # the embedded Whisper
