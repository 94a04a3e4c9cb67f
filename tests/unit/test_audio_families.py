"""Other speech models through the speech ModelSpec path: a tiny random HF Whisper and a tiny random
Qwen2-Audio (audio encoder + decoder-only LM), built from configs, saved, loaded and captured."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

from hubcore.audio import whisper as W
from hubcore.audio.whisper import capture_stacks
from hubcore.models.whisper_base import package_files
from hubcore.errors import HubError
from hubcore.models import ModelSpec
from hubcore.models.speech import load_speech_model
from tests.support.audio_helpers import tiny_qwen2_audio, tiny_whisper


def _save(model, folder):
    model.save_pretrained(folder)
    WhisperTokenizerFast(tokenizer_file=str(package_files()[1] / "tokenizer.json")).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(folder)
    return folder


def AudioSpec(source: str) -> ModelSpec:
    return ModelSpec(source=source, kind="speech")


def load_audio_model(spec: ModelSpec):
    return load_speech_model(spec)


def _noise(seconds: float = 1.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal(int(16000 * seconds))).astype(np.float32)


def test_tiny_hf_whisper_loads_captures_and_decodes(tmp_path):
    hf = tiny_whisper()
    model = load_audio_model(AudioSpec(str(_save(hf, tmp_path / "whisper"))))
    assert model.is_whisper and model.n_encoder_layers == 2 and model.n_decoder_layers == 2
    feats = W.features(model, [_noise()])
    ids = W.prompt_ids(model, "en") + [400, 401]
    cap = W.capture(model, feats, [ids], encoder=True)
    assert cap.encoder.shape == (1, 1500, 3, 32) and cap.decoder.shape == (1, 6, 3, 32)
    with torch.inference_mode():
        out = model.hf(input_features=feats, decoder_input_ids=torch.tensor([ids]), output_hidden_states=True)
    # capture agrees with transformers' own hidden states (its last entry is after the final norm)
    for layer in range(2):
        assert torch.allclose(cap.decoder[0, :, layer], out.decoder_hidden_states[layer][0], atol=1e-5)
    assert torch.allclose(model.readout.logits(cap.decoder[0, :, 2]), out.logits[0], atol=1e-4)
    enc = W.encode(model, feats)
    tokens = W.greedy_decode(model, enc, [W.prompt_ids(model, "en")], max_new_tokens=5)[0]
    assert 1 <= len(tokens) <= 5


def test_tiny_qwen2_audio_loads_and_captures(tmp_path):
    hf = tiny_qwen2_audio()
    model = load_audio_model(AudioSpec(str(_save(hf, tmp_path / "qwen2audio"))))
    assert not model.is_whisper and model.family == "qwen2_audio"
    feats = W.features(model, [_noise()])
    n_audio = 750  # 3000 mel frames -> conv stride 2 -> 1500 -> average pooling 2
    ids = torch.tensor([[1, 2] + [999] * n_audio + [3, 4, 5]])
    enc, dec = capture_stacks(model, input_ids=ids, input_features=feats,
                              feature_attention_mask=torch.ones(1, 3000, dtype=torch.long))
    assert enc.shape == (1, 1500, 3, 32) and dec.shape == (1, ids.shape[1], 3, 32)
    with torch.inference_mode():
        logits = model.hf(input_ids=ids, input_features=feats,
                          feature_attention_mask=torch.ones(1, 3000, dtype=torch.long)).logits[0]
    assert torch.allclose(model.readout.logits(dec[0, :, 2]), logits.float(), atol=1e-4)
    # audio changes the text positions after it: the audio really flows into the LM
    with torch.inference_mode():
        other = model.hf(input_ids=ids, input_features=W.features(model, [2 * _noise(0.5)]),
                         feature_attention_mask=torch.ones(1, 3000, dtype=torch.long)).logits[0]
    assert (other[-1] - logits[-1]).abs().max() > 1e-4
    with pytest.raises(HubError, match="Whisper"):
        W.greedy_decode(model, None, [[1]])


def test_unsupported_and_missing_specs(tmp_path):
    with pytest.raises(HubError, match="does not exist"):
        load_audio_model(AudioSpec(str(tmp_path / "nothing")))
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(HubError, match="supports"):
        load_audio_model(AudioSpec(str(tmp_path / "gpt2")))
    with pytest.raises(HubError, match="local Hugging Face cache"):
        load_audio_model(AudioSpec("someone/not-a-cached-whisper"))
