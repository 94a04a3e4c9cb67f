"""Model specs, loading and the loaded-model handle.

A `ModelSpec` names a model the way a user types it: `default` (the embedded Gemma-3-270M), a
Hugging Face hub id, a local directory, or a local `.gguf` file. `load_model` turns it into a
`HubModel`: the transformers model wrapped in nnterp's `StandardizedTransformer` (so every
architecture nnterp can rename works without a hand-written adapter), its tokenizer set up for
left-padded batches, the logit-lens readout path, a model card, and one lock (nnsight traces are
not thread-safe). `get_model` keeps a small LRU of loaded models shared by all pages and sessions.
"""

from __future__ import annotations

import inspect
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import HubError, ModelLoadError, UnsupportedModelError
from .progress import Progress, report, scaled

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cuda", "mps", "cpu")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")

# Families checked in the test-suite with tiny random-weight models (renaming, capture, lens).
TESTED_FAMILIES: dict[str, str] = {
    "gemma3_text": "Gemma 3 text (embedded default: Gemma-3-270M)",
    "gemma2": "Gemma 2 (final-logit soft-capping applied by the lens)",
    "llama": "Llama 2/3, TinyLlama, many fine-tunes",
    "mistral": "Mistral 7B and derivatives",
    "qwen2": "Qwen2 / Qwen2.5",
    "qwen3": "Qwen3",
    "phi3": "Phi-3 / Phi-3.5",
    "gpt2": "GPT-2 family",
    "gpt_neox": "GPT-NeoX, Pythia",
    "opt": "OPT",
    "bloom": "BLOOM / BLOOMZ",
}


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for; hashable so it can key caches."""

    source: str = "default"
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_download: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", (self.source or "default").strip())
        if self.dtype not in DTYPES:
            raise ModelLoadError(f"Unknown dtype '{self.dtype}': choose one of {', '.join(DTYPES)}.")
        if self.device not in DEVICES:
            raise ModelLoadError(
                f"Unknown device '{self.device}': choose one of {', '.join(DEVICES)}."
            )

    @property
    def kind(self) -> str:
        """One of default, gguf, local, hub."""
        if self.source.lower() == "default":
            return "default"
        path = Path(self.source).expanduser()
        if self.source.lower().endswith(".gguf"):
            return "gguf"
        if path.exists() or self.source.startswith((".", "/", "~")) or os.sep in self.source[:1]:
            return "local"
        return "hub"

    @property
    def label(self) -> str:
        if self.kind == "default":
            from .default_model import DEFAULT_MODEL_LABEL

            return DEFAULT_MODEL_LABEL
        return self.source


@dataclass
class ModelCard:
    """What the sidebar and the CLI show about a loaded model."""

    name: str
    family: str
    architecture: str
    layers: int
    width: int
    vocab: int
    parameters: int
    dtype: str
    device: str
    load_seconds: float
    lens_check: float = float("nan")  # max |lens(L) - model| over a probe, in log-prob units

    def as_rows(self) -> list[tuple[str, str]]:
        return [
            ("Model", self.name),
            ("Family", f"{self.family} ({self.architecture})"),
            ("Layers", f"{self.layers} blocks (lens layers 0..{self.layers})"),
            ("Width", str(self.width)),
            ("Vocabulary", f"{self.vocab:,}"),
            ("Parameters", f"{self.parameters / 1e6:,.1f} M"),
            ("dtype / device", f"{self.dtype} / {self.device}"),
            ("Load time", f"{self.load_seconds:.1f} s"),
            ("Lens check", f"max |Δ log p| = {self.lens_check:.1e} at layer {self.layers}"),
        ]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(eq=False)
class HubModel:
    """A loaded, wrapped model ready for capture, lens and interventions."""

    spec: ModelSpec
    std: Any  # nnterp.StandardizedTransformer
    tokenizer: Any
    card: ModelCard
    readout: Any  # lens.Readout
    accepts_position_ids: bool
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def hf(self) -> Any:
        """The underlying transformers model."""
        return self.std._model

    @property
    def num_layers(self) -> int:
        return int(self.std.num_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.card.width)

    @property
    def device(self) -> Any:
        return next(self.hf.parameters()).device


def resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("Device 'cuda' was requested but no CUDA GPU is available.")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ModelLoadError("Device 'mps' was requested but Apple MPS is not available.")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def _text_config(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def _check_causal_lm(config: Any, spec: ModelSpec) -> None:
    """Refuse configs that AutoModelForCausalLM cannot build, naming the class."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    encoder = getattr(config, "is_encoder_decoder", False) or (
        config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False)
    )
    if config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not encoder:
        return
    if spec.trust_remote_code and "AutoModelForCausalLM" in (getattr(config, "auto_map", {}) or {}):
        return
    archs = ", ".join(getattr(config, "architectures", None) or [type(config).__name__])
    raise UnsupportedModelError(
        f"'{spec.source}' is a {archs} (model_type '{config.model_type}'), which is not a decoder "
        "language model that AutoModelForCausalLM can load; vision-language and speech models "
        "have their own pages."
    )


def local_or_hub(spec: Any, example: str) -> tuple[str, dict[str, Any]]:
    """A local model folder (must hold config.json) or a hub id (offline unless allowed).

    Shared by every model kind (`spec` has `.kind` "local"/"hub", `.source`, `.allow_download`);
    `example` is a hub id of the right kind for the error message.
    """
    path = Path(spec.source).expanduser()
    if spec.kind == "local":
        if not path.exists():
            raise ModelLoadError(f"Local path '{spec.source}' does not exist.")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(
                f"'{spec.source}' is not a Hugging Face model directory (no config.json in it)."
            )
        return str(path), {"local_files_only": True}
    if not _HUB_ID.match(spec.source):
        raise ModelLoadError(
            f"'{spec.source}' is neither an existing local path nor a Hugging Face hub id like '{example}'."
        )
    return spec.source, {"local_files_only": not spec.allow_download}


def _source_path(spec: ModelSpec, progress: Optional[Progress]) -> tuple[str, dict[str, Any]]:
    """Where from_pretrained should look, and the extra kwargs that implies."""
    kind = spec.kind
    if kind == "default":
        from .default_model import default_model_dir

        return str(default_model_dir(scaled(progress, 0.0, 0.7))), {"local_files_only": True}
    path = Path(spec.source).expanduser()
    if kind == "gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file '{spec.source}' does not exist.")
        return str(path.parent), {"gguf_file": path.name, "local_files_only": True}
    if kind == "hub" and not _HUB_ID.match(spec.source):
        raise ModelLoadError(
            f"'{spec.source}' is neither 'default', an existing local path, a .gguf file, "
            "nor a Hugging Face hub id like 'google/gemma-2-2b'."
        )
    return local_or_hub(spec, "google/gemma-2-2b")


def load_config(src: str, extra: dict[str, Any], spec: Any) -> Any:
    """`AutoConfig.from_pretrained` with one clear sentence for each way it fails (any model kind)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(src, trust_remote_code=spec.trust_remote_code, **extra)
    except HubError:
        raise
    except Exception as exc:
        if spec.kind == "hub" and extra.get("local_files_only"):
            raise ModelLoadError(
                f"Model '{spec.source}' is not in the local Hugging Face cache, and downloads are "
                "off (the app works offline by default): download it once on a machine with "
                "internet, pass a local directory, or enable downloads (--allow-download / "
                "HUBCORE_ALLOW_DOWNLOAD=1)."
            ) from exc
        if spec.kind == "hub":
            raise ModelLoadError(
                f"Could not fetch '{spec.source}' from the Hugging Face hub: {_first_line(exc)}"
            ) from exc
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"'{spec.source}' needs custom code from its repository; enable "
                "'trust remote code' only if you trust its author."
            ) from exc
        raise ModelLoadError(f"Could not read the config of '{spec.source}': {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    """The informative line of an exception message (some embed a whole module printout)."""
    lines = [l.strip() for l in str(exc).strip().splitlines() if l.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and lines[0].endswith(("(", "{", "[", ":")):
        return lines[-1]
    return lines[0]


def _load_weights(src: str, extra: dict[str, Any], spec: ModelSpec, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = dict(extra, dtype=dtype, trust_remote_code=spec.trust_remote_code)
    if device == "cuda":
        kwargs["device_map"] = "auto"  # spreads a large model over every visible GPU
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except HubError:
        raise
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
            raise ModelLoadError(
                f"Not enough memory to load '{spec.source}' as {dtype}: try a smaller dtype "
                "(bfloat16/float16) or a GPU."
            ) from exc
        raise ModelLoadError(f"Could not load the weights of '{spec.source}': {_first_line(exc)}") from exc
    except Exception as exc:
        msg = _first_line(exc)
        if spec.kind == "gguf":
            raise ModelLoadError(
                f"transformers cannot load the GGUF file '{spec.source}' "
                f"(unsupported architecture or quantisation type): {msg}"
            ) from exc
        raise ModelLoadError(f"Could not load the weights of '{spec.source}': {msg}") from exc
    if device != "cuda":
        model = model.to(device)
    return model.eval()


def _load_tokenizer(src: str, extra: dict[str, Any], spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(src, trust_remote_code=spec.trust_remote_code, **extra)
    except Exception as exc:
        raise ModelLoadError(f"Could not load the tokenizer of '{spec.source}': {_first_line(exc)}") from exc


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding with a real pad token, which batched capture and generation rely on."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token_id is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise UnsupportedModelError("The tokenizer has no pad, eos or unk token to pad batches with.")
    return tokenizer


def wrap_model(
    hf_model: Any,
    tokenizer: Any,
    spec: Optional[ModelSpec] = None,
    load_seconds: float = 0.0,
    name: Optional[str] = None,
) -> HubModel:
    """Wrap an already-loaded transformers causal LM (also used for in-process test models)."""
    from nnterp import StandardizedTransformer

    from .lens import Readout, lens_self_check

    spec = spec or ModelSpec(source=name or type(hf_model).__name__)
    tokenizer = prepare_tokenizer(tokenizer)
    # analysis only: no autograd graph (the lens on captured inference tensors needs this, and
    # a graph through a 262k-vocabulary head leaks memory fast)
    hf_model.eval().requires_grad_(False)
    cls = type(hf_model).__name__
    try:
        std = StandardizedTransformer(hf_model, tokenizer=tokenizer, check_renaming=True)
    except Exception as exc:
        raise UnsupportedModelError(
            f"{cls} cannot be mapped onto the standard layout (layers, final norm, LM head) "
            f"that capture and the logit lens need: {_first_line(exc)}"
        ) from exc
    config = _text_config(hf_model.config)
    params = sum(p.numel() for p in hf_model.parameters())
    first = next(hf_model.parameters())
    card = ModelCard(
        name=name or spec.label,
        family=str(getattr(config, "model_type", "?")),
        architecture=cls,
        layers=int(std.num_layers),
        width=int(std.hidden_size or getattr(config, "hidden_size", 0)),
        vocab=int(std.vocab_size or getattr(config, "vocab_size", 0)),
        parameters=int(params),
        dtype=str(first.dtype).replace("torch.", ""),
        device=str(first.device),
        load_seconds=round(load_seconds, 2),
    )
    accepts = "position_ids" in inspect.signature(hf_model.forward).parameters
    hub = HubModel(
        spec=spec,
        std=std,
        tokenizer=tokenizer,
        card=card,
        readout=Readout.from_model(std, hf_model.config),
        accepts_position_ids=accepts,
    )
    hub.card.lens_check = lens_self_check(hub)
    return hub


def load_model(spec: ModelSpec, progress: Optional[Progress] = None) -> HubModel:
    """Resolve, load and wrap `spec`; every user-caused failure is a `HubError`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress callback reports the load
    start = time.perf_counter()
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    report(progress, 0.0, f"Resolving {spec.label}")
    src, extra = _source_path(spec, progress)
    config = load_config(src, extra, spec)
    _check_causal_lm(config, spec)
    report(progress, 0.72, f"Loading weights ({str(dtype).replace('torch.', '')} on {device})")
    try:
        hf_model = _load_weights(src, extra, spec, device, dtype)
    except ModelLoadError:
        if spec.kind != "default":
            raise
        # A cache that passed the size check but does not load (bit rot) is rebuilt once.
        from .cache import invalidate

        invalidate(Path(src))
        src, extra = _source_path(spec, progress)
        hf_model = _load_weights(src, extra, spec, device, dtype)
    report(progress, 0.9, "Loading the tokenizer")
    tokenizer = _load_tokenizer(src, extra, spec)
    report(progress, 0.95, "Wrapping with nnterp and checking the lens")
    hub = wrap_model(hf_model, tokenizer, spec=spec, load_seconds=time.perf_counter() - start)
    hub.card.load_seconds = round(time.perf_counter() - start, 2)
    report(progress, 1.0, "Model ready")
    return hub


_registry: "OrderedDict[ModelSpec, HubModel]" = OrderedDict()
_registry_lock = threading.Lock()
_spec_locks: dict[ModelSpec, threading.Lock] = {}


def max_loaded_models() -> int:
    return max(1, int(os.environ.get("HUBCORE_MAX_MODELS", "2")))


def get_model(spec: ModelSpec, progress: Optional[Progress] = None) -> HubModel:
    """A shared, loaded model for `spec`: loaded once per process, least recently used evicted."""
    with _registry_lock:
        if spec in _registry:
            _registry.move_to_end(spec)
            return _registry[spec]
        spec_lock = _spec_locks.setdefault(spec, threading.Lock())
    with spec_lock:  # two sessions asking for the same model load it once
        with _registry_lock:
            if spec in _registry:
                return _registry[spec]
        hub = load_model(spec, progress)
        with _registry_lock:
            _registry[spec] = hub
            while len(_registry) > max_loaded_models():
                _registry.popitem(last=False)
        return hub


def loaded_specs() -> list[ModelSpec]:
    with _registry_lock:
        return list(_registry)
