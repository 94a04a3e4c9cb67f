"""Whisper mechanics shared by every audio experiment: features, prompts, capture, decoding, lens.

- Features: the model's own feature extractor (log-mel, padded to the 30 s window).
- Prompt: `<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`; an optional text prefix
  goes before it as `<|startofprev|> text` (Whisper's "previous text" slot).
- Capture: one nnsight trace over the generic `NNsight` wrapper saves the input of block 1 (layer
  0) and the output of every block, on the encoder and/or decoder stack. Sequences of different
  lengths are right-padded: the decoder is causal, so real positions never see the padding.
- Decoding: greedy with a KV cache (the encoder runs once, its keys/values are projected once),
  with Whisper's suppressed tokens. Optional steering adds `strength * vector` to the output of
  one decoder block at every position from the last prompt token on, as an nnsight edit.
- Lens: the decoder's final LayerNorm and output projection, applied to any decoder layer; at the
  last layer this is Whisper's own logits (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import InputError, UnsupportedModelError
from ..progress import Progress, report
from .models import AudioModel
from .sounds import SAMPLE_RATE


def require_whisper(model: AudioModel) -> None:
    if not model.is_whisper:
        raise UnsupportedModelError(
            f"This experiment needs an encoder-decoder Whisper model; {model.name} is a "
            f"{model.family} model (capture works, the Whisper prompts do not)."
        )


def special_id(model: AudioModel, token: str) -> int:
    tid = model.tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == model.tokenizer.unk_token_id and token != model.tokenizer.unk_token:
        raise InputError(f"The tokenizer of {model.name} has no token {token}.")
    return int(tid)


def language_ids(model: AudioModel) -> dict[str, int]:
    """Language code -> its `<|xx|>` token id, for every language the tokenizer knows."""
    out = {}
    for token, tid in model.tokenizer.get_added_vocab().items():
        code = token[2:-2]
        if token.startswith("<|") and token.endswith("|>") and 2 <= len(code) <= 3 and code.isalpha():
            out[code] = int(tid)
    return out


def prompt_ids(model: AudioModel, lang: str, prefix: Optional[str] = None) -> list[int]:
    """The decoder prompt for transcribing in `lang`, optionally after a previous-text prefix."""
    langs = language_ids(model)
    if lang not in langs:
        raise InputError(f"Whisper has no language code {lang!r}; try e.g. en, es, fr, de, zh.")
    ids = [special_id(model, "<|startoftranscript|>"), langs[lang],
           special_id(model, "<|transcribe|>"), special_id(model, "<|notimestamps|>")]
    if prefix:
        text = model.tokenizer(" " + prefix.strip(), add_special_tokens=False)["input_ids"]
        ids = [special_id(model, "<|startofprev|>"), *text, *ids]
    return ids


def features(model: AudioModel, clips: Sequence[np.ndarray]) -> Any:
    """Log-mel input features `[B, mels, 3000]` (30 s window, zero-padded) on the model's device."""
    fx = model.feature_extractor(list(clips), sampling_rate=SAMPLE_RATE, return_tensors="pt")
    param = next(model.hf.parameters())
    return fx["input_features"].to(device=param.device, dtype=param.dtype)


def speech_frames(model: AudioModel, clip: np.ndarray) -> int:
    """Encoder frames covering the clip itself (1500 frames = 30 s), at least 1."""
    total = int(model.hf.config.max_source_positions)
    return max(1, min(total, int(np.ceil(len(clip) / (30.0 * SAMPLE_RATE) * total))))


def encode(model: AudioModel, feats: Any) -> Any:
    """Encoder output (after its final norm) `[B, 1500, d]`."""
    import torch

    with model.lock, torch.inference_mode():
        return model.hf.model.encoder(feats).last_hidden_state


def _pad_right(seqs: Sequence[Sequence[int]], pad: int, device: Any) -> tuple[Any, list[int]]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
    return ids.to(device), [len(s) for s in seqs]


@dataclass
class Captured:
    """Hidden states of one batch; layer 0 = input of block 1, i = output of block i."""

    encoder: Any  # float32 [B, 1500, n_enc + 1, d] or None
    decoder: Any  # float32 [B, T, n_dec + 1, d] or None
    lengths: list[int]  # real decoder lengths (right padding after them)


def capture(model: AudioModel, feats: Any, decoder_ids: Sequence[Sequence[int]],
            encoder: bool = False, decoder: bool = True,
            encoder_out: Optional[Any] = None) -> Captured:
    """Every layer's states for a batch, in one nnsight trace of the generic wrapper.

    Whisper only; pass `encoder_out` to skip re-running the encoder (then `encoder` must be off).
    """
    import torch

    require_whisper(model)
    pad = int(model.tokenizer.eos_token_id or 0)
    ids, lengths = _pad_right(decoder_ids, pad, next(model.hf.parameters()).device)
    enc_saved: list[Any] = []
    dec_saved: list[Any] = []
    kwargs: dict[str, Any] = {"decoder_input_ids": ids}
    if encoder_out is not None:
        if encoder:
            raise InputError("Encoder states cannot be captured from a precomputed encoder output.")
        kwargs["encoder_outputs"] = (encoder_out,)
    else:
        kwargs["input_features"] = feats
    enc_layers = model.module(model.paths.encoder_layers, wrapped=True)
    dec_layers = model.module(model.paths.decoder_layers, wrapped=True)
    with model.lock, torch.inference_mode():
        with model.nn.trace(**kwargs, use_cache=False):
            if encoder:
                enc_saved.append(enc_layers[0].input.save())
                for i in range(len(enc_layers)):
                    enc_saved.append(enc_layers[i].output.save())
            if decoder:
                dec_saved.append(dec_layers[0].input.save())
                for i in range(len(dec_layers)):
                    dec_saved.append(dec_layers[i].output.save())
        enc = torch.stack([s.float() for s in enc_saved], dim=2).cpu().clone() if encoder else None
        dec = torch.stack([s.float() for s in dec_saved], dim=2).cpu().clone() if decoder else None
    return Captured(encoder=enc, decoder=dec, lengths=lengths)


# ----------------------------------------------------------------------------- decoding


def suppressed_ids(model: AudioModel) -> tuple[list[int], list[int]]:
    """(always suppressed, suppressed at the first step): Whisper's lists plus special tokens."""
    cfg = model.hf.config
    always = set(getattr(cfg, "suppress_tokens", None) or [])
    eot = int(model.tokenizer.eos_token_id)
    vocab = model.vocab
    always |= set(range(eot + 1, vocab))  # every special, language and timestamp token
    begin = set(getattr(cfg, "begin_suppress_tokens", None) or [220, eot])
    return sorted(i for i in always if i < vocab), sorted(i for i in begin if i < vocab)


@dataclass(frozen=True)
class Steer:
    """Add `strengths[row] * vector` to the output of decoder block `layer` (1-based)."""

    layer: int
    vector: Any  # [d]
    strengths: Sequence[float]
    stop_token: Optional[int] = None  # a row stops being steered once it has emitted this token


def _forward(model: AudioModel, enc: Any, ids: Any, past: Any, steer_from: Optional[int],
             steer: Optional[Steer], active: Optional[Any] = None) -> tuple[Any, Any]:
    """(last-position logits, KV cache) of one incremental decoder call, steered when asked.

    `ids` are the new positions only; `steer_from` is the first of them that gets the vector.
    """
    import torch

    kwargs = dict(encoder_outputs=(enc,), decoder_input_ids=ids, past_key_values=past, use_cache=True)
    if steer is None:
        out = model.hf(**kwargs)
        return out.logits[:, -1].float(), out.past_key_values
    layers = model.module(model.paths.decoder_layers, wrapped=True)
    block = layers[steer.layer - 1]
    scale = torch.tensor(list(steer.strengths), dtype=enc.dtype, device=enc.device)
    if active is not None:
        scale = scale * active.to(scale.dtype)
    mask = torch.zeros(ids.shape[1], dtype=enc.dtype, device=enc.device)
    mask[steer_from or 0:] = 1.0
    vec = steer.vector.to(enc.device, enc.dtype)
    delta = scale[:, None, None] * mask[None, :, None] * vec[None, None, :]
    with model.nn.trace(**kwargs):
        block.output = block.output + delta  # a new tensor: no in-place edit inside the trace
        out = model.nn.output.save()
    return out.logits[:, -1].float(), out.past_key_values


def greedy_decode(model: AudioModel, enc: Any, prompts: Sequence[Sequence[int]],
                  max_new_tokens: int = 64, steer: Optional[Steer] = None,
                  progress: Optional[Progress] = None) -> list[list[int]]:
    """Greedy continuation ids (without the prompt or end token) for each row of `enc`.

    All prompts must have the same length (one template, different language tokens). With
    `steer`, each clip is decoded once per strength (rows clip-major: clip i, strength j is row
    i * len(strengths) + j), steered at the last prompt position and every generated one. The
    unsteered prompt prefix, including the encoder's cross-attention keys/values (the expensive
    part: 1500 frames), is computed once per clip and its KV cache repeated for every strength.
    """
    import torch

    require_whisper(model)
    if len({len(p) for p in prompts}) != 1:
        raise InputError("All decoder prompts in one batch must have the same length.")
    if len(prompts) != enc.shape[0]:
        raise InputError("Give one decoder prompt per encoded clip.")
    repeat = len(steer.strengths) if steer is not None else 1
    if repeat < 1:
        raise InputError("Give at least one steering strength.")
    always, begin = suppressed_ids(model)
    eot = int(model.tokenizer.eos_token_id)
    device = enc.device
    ids = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=device)
    n_prompt = ids.shape[1]
    limit = min(max_new_tokens, int(model.hf.config.max_target_positions) - n_prompt)
    rows = len(prompts) * repeat
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    always_t = torch.tensor(always, dtype=torch.long, device=device)
    begin_t = torch.tensor(begin, dtype=torch.long, device=device)
    if steer is not None:
        steer = Steer(steer.layer, steer.vector, list(steer.strengths) * len(prompts), steer.stop_token)
    active = torch.ones(rows, dtype=torch.bool, device=device)
    generated: list[Any] = []
    with model.lock, torch.inference_mode():
        past = None
        if n_prompt > 1:  # the unsteered prefix, once per clip
            past = model.hf(encoder_outputs=(enc,), decoder_input_ids=ids[:, :-1],
                            use_cache=True).past_key_values
            if repeat > 1:
                past.batch_repeat_interleave(repeat)
        enc_rows = enc.repeat_interleave(repeat, dim=0) if repeat > 1 else enc
        step_ids = ids[:, -1:].repeat_interleave(repeat, dim=0)
        for step in range(max(limit, 0)):
            logits, past = _forward(model, enc_rows, step_ids, past, 0, steer, active)
            logits[:, always_t] = float("-inf")
            if step == 0:
                logits[:, begin_t] = float("-inf")
            nxt = logits.argmax(dim=-1)
            nxt = torch.where(done, torch.full_like(nxt, eot), nxt)
            generated.append(nxt)
            done |= nxt == eot
            if steer is not None and steer.stop_token is not None:
                active &= nxt != steer.stop_token
            step_ids = nxt[:, None]
            report(progress, (step + 1) / max(limit, 1), f"Decoding token {step + 1}")
            if bool(done.all()):
                break
    out = []
    table = torch.stack(generated, dim=1).tolist() if generated else [[] for _ in range(rows)]
    for row in table:
        out.append(row[: row.index(eot)] if eot in row else row)
    return out


def detect_language(model: AudioModel, enc: Any, allowed: Optional[Sequence[str]] = None) -> list[str]:
    """Whisper's language identification: the most likely `<|xx|>` after `<|startoftranscript|>`."""
    import torch

    langs = language_ids(model)
    if allowed:
        langs = {k: v for k, v in langs.items() if k in allowed}
    codes = list(langs)
    sot = special_id(model, "<|startoftranscript|>")
    ids = torch.full((enc.shape[0], 1), sot, dtype=torch.long, device=enc.device)
    with model.lock, torch.inference_mode():
        logits = model.hf(encoder_outputs=(enc,), decoder_input_ids=ids, use_cache=False).logits[:, -1]
    picks = logits[:, [langs[c] for c in codes]].argmax(dim=-1).tolist()
    return [codes[i] for i in picks]


def decode_text(model: AudioModel, ids: Sequence[int]) -> str:
    return model.tokenizer.decode(list(ids), skip_special_tokens=True).strip()


def ct2_config(model: AudioModel) -> dict[str, Any]:
    """The packaged CTranslate2 config (language ids, suppressed tokens) when the model has one."""
    path = Path(getattr(model.hf, "name_or_path", "") or "") / "ct2_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
