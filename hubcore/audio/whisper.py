"""Whisper mechanics shared by every audio experiment: features, prompts, capture, decoding, lens.

Every computation is one `handle.trace(...)`, so it runs locally, as the remote dry run or on
NDIF alike (trace bodies call only `hubcore.models.intrace` / `hubcore.audio.intrace`).

- Features: the model's own feature extractor (log-mel, padded to the 30 s window), CPU tensors.
- `Heard`: a batch of clips as the decoder hears them. On a local run (`remote == "off"`) the
  encoder output is computed once (`encode`) and reused by every later trace (a local-only
  shortcut); on a remote run the features travel and the encoder runs inside each trace.
- Prompt: `<|startoftranscript|><|lang|><|transcribe|><|notimestamps|>`; an optional text prefix
  goes before it as `<|startofprev|> text` (Whisper's "previous text" slot).
- Capture: one trace saves the input of block 1 (layer 0) and the output of every block, on the
  encoder and/or decoder stack. Sequences of different lengths are right-padded: the decoder is
  causal, so real positions never see the padding.
- Decoding: greedy, the encoder + the prompt + the whole token loop in ONE trace, with Whisper's
  suppressed tokens (always, and at the first step) and its end token. The prompt minus its last
  token runs once per clip; optional steering adds `strength * vector` to the output of one
  decoder block at the last prompt position and every generated one, each strength a row.
- Lens: the decoder's final LayerNorm and output projection, applied inside the trace to any
  decoder layer; at the last layer this is Whisper's own distribution (tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np

from ..errors import InputError, UnsupportedModelError
from ..progress import Progress, report
from .intrace import read_stacks, whisper_decode
from .sounds import SAMPLE_RATE

if TYPE_CHECKING:
    from ..models.speech import SpeechHandle


def require_whisper(model: "SpeechHandle") -> None:
    if not model.is_whisper:
        raise UnsupportedModelError(
            f"This experiment needs an encoder-decoder Whisper model; {model.name} is a "
            f"{model.family} model (capture works, the Whisper prompts do not)."
        )


def special_id(model: "SpeechHandle", token: str) -> int:
    tid = model.tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == model.tokenizer.unk_token_id and token != model.tokenizer.unk_token:
        raise InputError(f"The tokenizer of {model.name} has no token {token}.")
    return int(tid)


def language_ids(model: "SpeechHandle") -> dict[str, int]:
    """Language code -> its `<|xx|>` token id, for every language the tokenizer knows."""
    out = {}
    for token, tid in model.tokenizer.get_added_vocab().items():
        code = token[2:-2]
        if token.startswith("<|") and token.endswith("|>") and 2 <= len(code) <= 3 and code.isalpha():
            out[code] = int(tid)
    return out


def prompt_ids(model: "SpeechHandle", lang: str, prefix: Optional[str] = None) -> list[int]:
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


def features(model: "SpeechHandle", clips: Sequence[np.ndarray]) -> Any:
    """Log-mel input features `[B, mels, 3000]` (30 s window, zero-padded), CPU, in the model's
    dtype (nnsight moves trace inputs to the model's device, here or on a server)."""
    fx = model.feature_extractor(list(clips), sampling_rate=SAMPLE_RATE, return_tensors="pt")
    return fx["input_features"].to(dtype=next(model.hf.parameters()).dtype)


def speech_frames(model: "SpeechHandle", clip: np.ndarray) -> int:
    """Encoder frames covering the clip itself (1500 frames = 30 s), at least 1."""
    total = int(model.hf.config.max_source_positions)
    return max(1, min(total, int(np.ceil(len(clip) / (30.0 * SAMPLE_RATE) * total))))


# ----------------------------------------------------------------------------- what the decoder hears


@dataclass
class Heard:
    """Clips as the decoder hears them: features, plus the encoder output on local runs."""

    feats: Any  # [B, mels, 3000], CPU
    states: Any = None  # [B, 1500, d] encoder output (remote == "off" only), else None

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    def __getitem__(self, index: Any) -> "Heard":
        rows = index if isinstance(index, slice) else list(index)
        return Heard(self.feats[rows], None if self.states is None else self.states[rows])

    def expand(self, n: int) -> "Heard":
        """A one-clip batch repeated `n` times (e.g. silence behind every prompt of a batch)."""
        states = None if self.states is None else self.states.expand(n, *self.states.shape[1:])
        return Heard(self.feats.expand(n, *self.feats.shape[1:]), states)

    @staticmethod
    def cat(parts: Sequence["Heard"]) -> "Heard":
        import torch

        states = None if any(p.states is None for p in parts) else torch.cat([p.states for p in parts])
        return Heard(torch.cat([p.feats for p in parts]), states)

    def inputs(self, reuse: bool) -> dict[str, Any]:
        """Trace inputs: the features, plus the encoder output when `reuse` (the model then
        skips its encoder; the features still size the batch)."""
        out: dict[str, Any] = {"input_features": self.feats}
        if reuse and self.states is not None:
            out["encoder_outputs"] = (self.states,)
        return out


AudioIn = Union[Heard, Any]  # a Heard batch or plain features


def heard(audio: AudioIn) -> Heard:
    return audio if isinstance(audio, Heard) else Heard(audio)


def trace_inputs(model: "SpeechHandle", audio: Heard, encoder: bool = False) -> dict[str, Any]:
    """What a trace over `audio` is given: the kept encoder output only on a local run that does
    not read the encoder's own states; otherwise the features (the encoder runs in the trace)."""
    return audio.inputs(reuse=model.remote == "off" and not encoder)


def encoder_states(model: "SpeechHandle", feats: Any) -> Any:
    """Encoder output (after its final norm) `[B, 1500, d]`, in one trace stopped after the encoder."""
    import nnsight
    import torch

    require_whisper(model)
    sot = torch.full((feats.shape[0], 1), special_id(model, "<|startoftranscript|>"), dtype=torch.long)
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(input_features=feats, decoder_input_ids=sot) as tracer:
            out = nn.model.encoder.output
            states = nnsight.save(out[0])
            tracer.stop()
    return states.clone()


def encode(model: "SpeechHandle", feats: Any) -> Heard:
    """The clips ready for the decoder: on a local run with their encoder output computed once;
    on a remote run just the features (each later trace runs the encoder on the server)."""
    states = encoder_states(model, feats) if model.remote == "off" else None
    return Heard(feats, states)


def _pad_right(seqs: Sequence[Sequence[int]], pad: int) -> tuple[Any, list[int]]:
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
    return ids, [len(s) for s in seqs]


@dataclass
class Captured:
    """Hidden states of one batch; layer 0 = input of block 1, i = output of block i."""

    encoder: Any  # float32 [B, 1500, n_enc + 1, d] ([B, n_enc + 1, d] when pooled) or None
    decoder: Any  # float32 [B, T, n_dec + 1, d] or None
    lengths: list[int]  # real decoder lengths (right padding after them)


def capture(model: "SpeechHandle", audio: AudioIn, decoder_ids: Sequence[Sequence[int]],
            encoder: bool = False, decoder: bool = True,
            frames: Optional[Sequence[int]] = None) -> Captured:
    """Every layer's states for a batch, in one trace (Whisper only).

    `audio`: features or a `Heard` batch (its encoder output is reused unless encoder states
    are wanted). `frames`: average the encoder states over each clip's first frames inside the
    trace (`Captured.encoder` is then `[B, n_enc + 1, d]`).
    """
    import nnsight
    import torch

    require_whisper(model)
    got = heard(audio)
    pad = int(model.tokenizer.eos_token_id or 0)
    ids, lengths = _pad_right(decoder_ids, pad)
    pooled = None if frames is None else torch.tensor([int(f) for f in frames], dtype=torch.long)
    n_enc, n_dec = model.n_encoder_layers, model.n_decoder_layers
    nn = model.nn
    with model.lock, torch.inference_mode():
        inputs = trace_inputs(model, got, encoder)
        with model.trace(**inputs, decoder_input_ids=ids, use_cache=False) as tracer:
            states = nnsight.save(read_stacks(nn, n_enc, n_dec, encoder, decoder, pooled))
            tracer.stop()  # the output projection never runs
    enc, dec = (s.clone() if s is not None else None for s in states)
    return Captured(encoder=enc, decoder=dec, lengths=lengths)


def capture_stacks(model: "SpeechHandle", **inputs: Any) -> tuple[Any, Any]:
    """(encoder, decoder) states `[B, T, n + 1, d]` of every layer for any supported architecture.

    One trace: layer 0 is the input of the first block, layer i the output of block i, on each
    stack. `inputs` go to the model's forward unchanged (Whisper: input_features +
    decoder_input_ids; Qwen2-Audio: input_ids with audio tokens + input_features +
    feature_attention_mask).
    """
    import nnsight
    import torch

    nn = model.nn
    n_enc, n_dec = model.n_encoder_layers, model.n_decoder_layers
    with model.lock, torch.inference_mode():
        with model.trace(**inputs) as tracer:
            states = nnsight.save(read_stacks(nn, n_enc, n_dec, True, True, None))
            tracer.stop()
    return states[0].clone(), states[1].clone()


# ----------------------------------------------------------------------------- decoding


def suppressed_ids(model: "SpeechHandle") -> tuple[list[int], list[int]]:
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


def _step_reporter(progress: Optional[Progress], limit: int) -> Any:
    """`on_token(step)` for the decode loop: the share of `limit` tokens done, or None."""
    if progress is None:
        return None
    return lambda step: report(progress, (step + 1) / limit, f"Decoding token {step + 1}")


def greedy_decode(model: "SpeechHandle", audio: AudioIn, prompts: Sequence[Sequence[int]],
                  max_new_tokens: int = 64, steer: Optional[Steer] = None,
                  progress: Optional[Progress] = None) -> list[list[int]]:
    """Greedy continuation ids (without the prompt or end token) for each clip of `audio`.

    All prompts must have the same length (one template, different language tokens), at least
    two tokens. With `steer`, each clip is decoded once per strength (rows clip-major: clip i,
    strength j is row i * len(strengths) + j), steered at the last prompt position and every
    generated one. The encoder and the prompt minus its last token run once per clip; their
    caches are repeated for every strength inside the trace.
    """
    import nnsight
    import torch

    require_whisper(model)
    if len({len(p) for p in prompts}) != 1:
        raise InputError("All decoder prompts in one batch must have the same length.")
    got = heard(audio)
    if len(prompts) != len(got):
        raise InputError("Give one decoder prompt per encoded clip.")
    repeat = len(steer.strengths) if steer is not None else 1
    if repeat < 1:
        raise InputError("Give at least one steering strength.")
    ids = torch.tensor([list(p) for p in prompts], dtype=torch.long)
    n_prompt = ids.shape[1]
    if n_prompt < 2:
        raise InputError("A Whisper decoder prompt needs at least two tokens.")
    limit = max(0, min(max_new_tokens, int(model.hf.config.max_target_positions) - n_prompt))
    rows = len(prompts) * repeat
    if limit == 0:
        return [[] for _ in range(rows)]
    always, begin = suppressed_ids(model)
    eot = int(model.tokenizer.eos_token_id)
    plan = None
    if steer is not None:
        stop = -1 if steer.stop_token is None else int(steer.stop_token)
        plan = [int(steer.layer), torch.as_tensor(steer.vector).detach().to(torch.float32).cpu(),
                torch.tensor([float(s) for s in steer.strengths] * len(prompts)), stop]
    # a callback does not travel to a server: progress per token on local runs only
    on_token = _step_reporter(progress, limit) if model.remote == "off" else None
    nn = model.nn
    n_dec = model.n_decoder_layers
    with model.lock, torch.inference_mode():
        with model.trace(**trace_inputs(model, got), decoder_input_ids=ids[:, :-1], use_cache=True):
            out = nn.output
            tokens = nnsight.save(whisper_decode(
                nn, out.encoder_last_hidden_state, out.past_key_values, ids[:, -1:], repeat, limit,
                torch.tensor(always, dtype=torch.long), torch.tensor(begin, dtype=torch.long), eot,
                n_dec, plan, on_token))
    result = []
    for row in tokens.tolist():
        result.append(row[: row.index(eot)] if eot in row else row)
    return result


def detect_language(model: "SpeechHandle", audio: AudioIn,
                    allowed: Optional[Sequence[str]] = None) -> list[str]:
    """Whisper's language identification: the most likely `<|xx|>` after `<|startoftranscript|>`."""
    import nnsight
    import torch

    require_whisper(model)
    got = heard(audio)
    langs = language_ids(model)
    if allowed:
        langs = {k: v for k, v in langs.items() if k in allowed}
    codes = list(langs)
    sot = special_id(model, "<|startoftranscript|>")
    ids = torch.full((len(got), 1), sot, dtype=torch.long)
    lang_ids = torch.tensor([langs[c] for c in codes], dtype=torch.long)
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(**trace_inputs(model, got), decoder_input_ids=ids, use_cache=False):
            logits = nn.output.logits[:, -1]
            picks = nnsight.save(logits[:, lang_ids.to(logits.device)].argmax(dim=-1).cpu())
    return [codes[i] for i in picks.tolist()]


def lens_positions(model: "SpeechHandle", audio: AudioIn, decoder_ids: Sequence[int],
                   positions: Sequence[int], target_ids: Sequence[int], top_k: int = 1,
                   apply_norm: bool = True) -> tuple[Any, Any, Any]:
    """The lens of every decoder layer at `positions` of one teacher-forced sequence, reduced
    inside the trace: (top ids `[L+1, P, k]`, top log-probs `[L+1, P, k]`, log-probs of
    `target_ids` `[L+1, P, n_t]`)."""
    import nnsight
    import torch

    from ..lens import chunk_rows
    from ..models.intrace import lens_reduce, residual

    require_whisper(model)
    got = heard(audio)
    if len(got) != 1:
        raise InputError("The lens reads one clip at a time.")
    ids = torch.tensor([list(decoder_ids)], dtype=torch.long)
    pos = torch.tensor([int(p) for p in positions], dtype=torch.long)
    tgt = torch.tensor([int(t) for t in target_ids], dtype=torch.long)
    k = max(1, min(int(top_k), model.vocab))
    head_in, softcap, scale = model.readout.trace_args()
    chunk = chunk_rows(model)
    top = model.n_decoder_layers
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(**trace_inputs(model, got), decoder_input_ids=ids, use_cache=False) as tracer:
            reduced = []
            for layer in range(top + 1):  # in execution order
                h = residual(nn, layer)
                reduced.append(lens_reduce(nn, h[0, pos.to(h.device)], k, tgt, None, apply_norm,
                                           head_in, softcap, scale, chunk))
            saved = nnsight.save(reduced)
            tracer.stop()
    return tuple(torch.stack([r[j] for r in saved]).clone() for j in range(3))  # type: ignore[return-value]


def head_rows(model: "SpeechHandle", ids: Sequence[int]) -> Any:
    """Rows `ids` of the output projection's weight, float32 CPU `[n, d]`: read directly when the
    model runs here, else inside a trace that stops at once (only the rows travel back)."""
    import nnsight
    import torch

    idx = torch.tensor([int(i) for i in ids], dtype=torch.long)
    if model.remote == "off":
        weight = model.readout.head.weight
        with torch.inference_mode():
            return weight[idx.to(weight.device)].to(torch.float32).cpu().clone()
    require_whisper(model)
    feats = features(model, [np.zeros(SAMPLE_RATE, dtype=np.float32)])
    sot = torch.tensor([[special_id(model, "<|startoftranscript|>")]], dtype=torch.long)
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(input_features=feats, decoder_input_ids=sot) as tracer:
            weight = nn.lm_head.weight
            rows = nnsight.save(weight[idx.to(weight.device)].to(torch.float32).cpu())
            tracer.stop()
    return rows.clone()


def decode_text(model: "SpeechHandle", ids: Sequence[int]) -> str:
    return model.tokenizer.decode(list(ids), skip_special_tokens=True).strip()


def ct2_config(model: "SpeechHandle") -> dict[str, Any]:
    """The packaged CTranslate2 config (language ids, suppressed tokens) when the model has one."""
    path = Path(getattr(model.hf, "name_or_path", "") or "") / "ct2_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
