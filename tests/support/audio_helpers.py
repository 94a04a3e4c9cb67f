"""Shared helpers for the audio tests: the embedded Whisper (once per session), tiny random
speech models built from configs (never downloaded), text normalisation and word error rate."""

from __future__ import annotations

import re
import unicodedata

import numpy as np


def normalise(text: str) -> list[str]:
    """Lower-case words without accents or punctuation (the Spanish transcripts have no accents)."""
    text = "".join(ch for ch in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(ch) != "Mn")
    return re.findall(r"[a-z0-9]+", text.replace("'", " "))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance / reference length."""
    r, h = normalise(reference), normalise(hypothesis)
    d = np.arange(len(h) + 1)
    for i in range(1, len(r) + 1):
        prev, d = d, np.empty_like(d)
        d[0] = i
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return float(d[len(h)]) / max(len(r), 1)


def tiny_whisper(seed: int = 0):
    """A tiny random WhisperForConditionalGeneration (2+2 blocks, width 32) with the real tokenizer."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(vocab_size=51865, num_mel_bins=80, d_model=32, encoder_layers=2,
                           decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
                           encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=1500,
                           max_target_positions=64, pad_token_id=50257, bos_token_id=50257,
                           eos_token_id=50257, decoder_start_token_id=50258)
    return WhisperForConditionalGeneration(config).eval()


def tiny_qwen2_audio(seed: int = 0):
    """A tiny random Qwen2-Audio (audio encoder 2 blocks + Qwen2 decoder 2 blocks, vocab 1000)."""
    import torch
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    torch.manual_seed(seed)
    config = Qwen2AudioConfig(
        audio_config=dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                          num_mel_bins=80, max_source_positions=1500),
        text_config=dict(model_type="qwen2", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, intermediate_size=64, vocab_size=1000),
        audio_token_index=999,
    )
    return Qwen2AudioForConditionalGeneration(config).eval()


def whisper_processors():
    """(feature extractor, tokenizer) of the embedded Whisper base, built from its package files."""
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    from hubcore.models.whisper_base import package_files

    tokenizer = WhisperTokenizerFast(tokenizer_file=str(package_files()[1] / "tokenizer.json"))
    return WhisperFeatureExtractor(feature_size=80), tokenizer


def tiny_whisper_handle(seed: int = 0):
    """`tiny_whisper` wrapped as a speech handle (the real tokenizer and feature extractor)."""
    from hubcore.models.speech import wrap_speech_model

    fx, tok = whisper_processors()
    return wrap_speech_model(tiny_whisper(seed), fx, tok, name="tiny-whisper")
