"""Vision-language model specs, loading, and the loaded-model handle.

No VLM weights ship in any package registry, so a `VisionSpec` always names the user's model: a
Hugging Face hub id already in the local HF cache (downloads only when allowed) or a local model
folder. `load_vision_model` builds it with `AutoModelForImageTextToText` + `AutoProcessor` and
wraps it in nnsight's generic `NNsight` (nnterp does not cover VLMs). Where the language model's
decoder layers, final norm and LM head sit differs per family; one small table (`FAMILIES`) holds
those module paths for transformers 5 layouts, and other architectures are searched for the same
names before they are refused with a message naming the class.

Layer convention as everywhere: 0 = the language model's input embeddings (with the image
features already merged in), i = output of decoder block i, L = last block (before the final norm).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import HubError, InputError, ModelLoadError, UnsupportedModelError
from ..models import DEVICES, DTYPES, ModelCard, _first_line, load_config, local_or_hub, resolve_device, resolve_dtype
from ..progress import Progress, report

SPEC_SYNTAX = (
    "a Hugging Face hub id already in the local HF cache (e.g. llava-hf/llava-1.5-7b-hf, "
    "google/gemma-3-4b-it, Qwen/Qwen2-VL-2B-Instruct, HuggingFaceTB/SmolVLM-256M-Instruct), "
    "or a local model folder (e.g. /models/llava-1.5-7b-hf)"
)
NO_MODEL = (
    "No vision-language model is set, and none ships with this app (no VLM weights are in any "
    f"package registry): give {SPEC_SYNTAX}."
)


@dataclass(frozen=True)
class Family:
    """Where one VLM family keeps its language model, and how its image tokens are laid out."""

    label: str
    language_model: str  # module path of the decoder stack (holds .layers and .norm)
    head: str = "lm_head"
    nested_images: bool = True  # processor wants one list of images per text
    images_kwargs: tuple[tuple[str, Any], ...] = ()  # e.g. no image splitting (one grid per image)


FAMILIES: dict[str, Family] = {
    "llava": Family("LLaVA-1.5 (llava-hf)", "model.language_model"),
    "gemma3": Family("Gemma 3 (4B and up)", "model.language_model"),
    "qwen2_vl": Family("Qwen2-VL", "model.language_model"),
    "qwen2_5_vl": Family("Qwen2.5-VL", "model.language_model"),
    "idefics3": Family("Idefics3", "model.text_model", images_kwargs=(("do_image_splitting", False),)),
    "smolvlm": Family("SmolVLM", "model.text_model", images_kwargs=(("do_image_splitting", False),)),
    "chameleon": Family("Chameleon", "model", nested_images=False),
}
# Checked in the test-suite with tiny random-weight models (load, positions, capture, lens).
TESTED_FAMILIES = ("llava", "gemma3", "qwen2_vl")
_FALLBACK_LMS = ("model.language_model", "model.text_model", "language_model.model", "model")


@dataclass(frozen=True)
class VisionSpec:
    """What the user asked for; hashable so it can key caches."""

    source: str
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_download: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", (self.source or "").strip())
        if not self.source or self.source.lower() == "default":
            raise ModelLoadError(NO_MODEL)
        if self.dtype not in DTYPES:
            raise ModelLoadError(f"Unknown dtype '{self.dtype}': choose one of {', '.join(DTYPES)}.")
        if self.device not in DEVICES:
            raise ModelLoadError(f"Unknown device '{self.device}': choose one of {', '.join(DEVICES)}.")

    @property
    def kind(self) -> str:
        """local (a folder) or hub (an id looked up in the HF cache)."""
        if Path(self.source).expanduser().exists() or self.source.startswith((".", "/", "~")):
            return "local"
        return "hub"

    @property
    def label(self) -> str:
        return self.source


@dataclass(eq=False)
class VisionModel:
    """A loaded VLM: the HF model, its processor and tokenizer, the nnsight wrapper, a lock."""

    spec: Any
    hf: Any
    processor: Any
    tokenizer: Any
    wrapped: Any  # nnsight.NNsight over `hf`
    family: str
    lm_path: str
    head_path: str
    card: ModelCard
    readout: Any  # hubcore.lens.Readout: final norm + LM head (+ softcap)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def config(self) -> Any:
        return self.hf.config

    @property
    def text_config(self) -> Any:
        return getattr(self.hf.config, "text_config", None) or self.hf.config

    @property
    def num_layers(self) -> int:
        return int(self.card.layers)

    @property
    def hidden_size(self) -> int:
        return int(self.card.width)

    @property
    def device(self) -> Any:
        return next(self.hf.parameters()).device

    @property
    def family_info(self) -> Family:
        return FAMILIES.get(self.family) or Family(self.family, self.lm_path, self.head_path)

    @property
    def image_token_id(self) -> int:
        return image_token_id(self.hf.config)

    def layers(self) -> Any:
        """The decoder layers' nnsight envoys (index i = block i + 1 in our convention)."""
        return _fetch(self.wrapped, self.lm_path).layers


def _fetch(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _has(root: Any, path: str) -> bool:
    try:
        _fetch(root, path)
        return True
    except AttributeError:
        return False


def image_token_id(config: Any) -> int:
    """The placeholder id the model fills with image features (its name differs per family)."""
    for name in ("image_token_id", "image_token_index"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise UnsupportedModelError(
        f"{type(config).__name__} names no image token id (image_token_id / image_token_index), "
        "so the image-token positions cannot be found."
    )


def image_token_positions(model: VisionModel, input_ids: Any) -> list[list[int]]:
    """Per row of `input_ids` `[B, T]`: the column indices holding image features, in order."""
    import torch

    ids = torch.as_tensor(input_ids)
    if ids.dim() == 1:
        ids = ids[None]
    tok = model.image_token_id
    return [torch.nonzero(row == tok).flatten().tolist() for row in ids.cpu()]


def patch_grid(model: VisionModel, n_tokens: int, inputs: Optional[dict[str, Any]] = None,
               image_index: int = 0) -> tuple[int, int]:
    """(rows, cols) of an image's tokens in row-major order, for drawing and left/right halves.

    Qwen2-VL/2.5-VL: the processor's `image_grid_thw` divided by the merge size; square grids
    for LLaVA, Gemma 3, Idefics3/SmolVLM without splitting and Chameleon; else one row.
    """
    if inputs is not None and "image_grid_thw" in inputs:
        t, h, w = (int(x) for x in inputs["image_grid_thw"][image_index])
        merge = int(getattr(getattr(model.config, "vision_config", None), "spatial_merge_size", 2) or 2)
        rows, cols = h // merge, (t * w) // merge
        if rows * cols == n_tokens:
            return rows, cols
    side = math.isqrt(n_tokens)
    if side * side == n_tokens:
        return side, side
    return 1, n_tokens


# ---------------------------------------------------------------------------------------------
# Loading


def _source(spec: VisionSpec) -> tuple[str, dict[str, Any]]:
    return local_or_hub(spec, "llava-hf/llava-1.5-7b-hf")


def check_vlm_config(config: Any, spec: Any) -> None:
    """Refuse configs that are not image-text-to-text models, naming what they are."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return
    if spec.trust_remote_code and "AutoModelForImageTextToText" in (getattr(config, "auto_map", {}) or {}):
        return
    archs = ", ".join(getattr(config, "architectures", None) or [type(config).__name__])
    raise UnsupportedModelError(
        f"'{spec.source}' is a {archs} (model_type '{config.model_type}'), not a vision-language "
        "model that AutoModelForImageTextToText can load; text-only models belong on the other pages."
    )


def _weights(src: str, extra: dict[str, Any], spec: VisionSpec, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = dict(extra, dtype=dtype, trust_remote_code=spec.trust_remote_code)
    if device == "cuda":
        kwargs["device_map"] = "auto"
    try:
        model = AutoModelForImageTextToText.from_pretrained(src, **kwargs)
    except (MemoryError, RuntimeError) as exc:
        if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
            raise ModelLoadError(f"Not enough memory to load '{spec.source}' as {dtype}: try "
                                 "bfloat16/float16 or a GPU.") from exc
        raise ModelLoadError(f"Could not load the weights of '{spec.source}': {_first_line(exc)}") from exc
    except Exception as exc:
        raise ModelLoadError(f"Could not load the weights of '{spec.source}': {_first_line(exc)}") from exc
    if device != "cuda":
        model = model.to(device)
    return model.eval()


def load_processor(src: str, extra: dict[str, Any], spec: Any, config: Any) -> Any:
    """`AutoProcessor`, or for Qwen-VL families without torchvision (whose video processor
    needs it) the image processor + tokenizer behind `processing.QwenVLProcessor`."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    from .processing import QwenVLProcessor

    kw = dict(extra, trust_remote_code=spec.trust_remote_code)
    try:
        return AutoProcessor.from_pretrained(src, **kw)
    except Exception as exc:
        if config.model_type not in ("qwen2_vl", "qwen2_5_vl"):
            raise ModelLoadError(f"Could not load the processor of '{spec.source}': {_first_line(exc)}") from exc
        try:
            return QwenVLProcessor(AutoImageProcessor.from_pretrained(src, **kw),
                                   AutoTokenizer.from_pretrained(src, **kw))
        except Exception as exc2:
            raise ModelLoadError(f"Could not load the processor of '{spec.source}': "
                                 f"{_first_line(exc2)}") from exc2


def _locate(hf: Any, family: str) -> tuple[str, str]:
    """(language-model path, head path) from the table, else the usual transformers names."""
    known = FAMILIES.get(family)
    candidates = ([known.language_model] if known else []) + list(_FALLBACK_LMS)
    for path in candidates:
        if _has(hf, path + ".layers") and _has(hf, path + ".norm"):
            head = known.head if known else "lm_head"
            if _has(hf, head):
                return path, head
    raise UnsupportedModelError(
        f"{type(hf).__name__} has no decoder layers + final norm + LM head at the paths this app "
        f"knows ({', '.join(p + '.layers' for p in candidates)}); supported families: "
        f"{', '.join(f.label for f in FAMILIES.values())}."
    )


def wrap_vision_model(hf_model: Any, processor: Any, spec: Any = None, name: Optional[str] = None,
                      load_seconds: float = 0.0, check: bool = True) -> VisionModel:
    """Wrap an already-loaded VLM and its processor (also used for in-process test models)."""
    import torch
    from nnsight import NNsight

    from ..lens import Readout

    hf_model.eval().requires_grad_(False)
    family = str(hf_model.config.model_type)
    lm_path, head_path = _locate(hf_model, family)
    image_token_id(hf_model.config)  # fail early when the image placeholder is unknown
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise UnsupportedModelError(f"The processor of {type(hf_model).__name__} has no tokenizer.")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    text_config = getattr(hf_model.config, "text_config", None) or hf_model.config
    lm = _fetch(hf_model, lm_path)
    head = _fetch(hf_model, head_path)
    scale = 1.0
    if getattr(text_config, "logit_scale", None):
        scale *= float(text_config.logit_scale)
    # the VLM class's own head path decides: Gemma3ForConditionalGeneration applies no final
    # soft-capping even when its text config names one, so only the top-level config counts
    readout = Readout(norm=lm.norm, head=head,
                      softcap=getattr(hf_model.config, "final_logit_softcapping", None), scale=scale)
    first = next(hf_model.parameters())
    card = ModelCard(
        name=name or (spec.label if spec is not None else type(hf_model).__name__),
        family=family,
        architecture=type(hf_model).__name__,
        layers=len(lm.layers),
        width=int(getattr(text_config, "hidden_size", 0) or head.weight.shape[1]),
        vocab=int(head.weight.shape[0]),
        parameters=int(sum(p.numel() for p in hf_model.parameters())),
        dtype=str(first.dtype).replace("torch.", ""),
        device=str(first.device),
        load_seconds=round(load_seconds, 2),
    )
    vm = VisionModel(spec=spec, hf=hf_model, processor=processor, tokenizer=tokenizer,
                     wrapped=NNsight(hf_model), family=family, lm_path=lm_path,
                     head_path=head_path, card=card, readout=readout)
    if check:
        with torch.inference_mode():
            vm.card.lens_check = lens_self_check(vm)
    return vm


def lens_self_check(model: VisionModel) -> float:
    """Max |lens at layer L - the model's own log-probs| over a solid-colour image prompt."""
    import torch

    from .images import solid
    from .processing import build_prompt, encode

    inputs = encode(model, [solid("red")], [build_prompt(model, "What colour is this?")])
    saved: list[Any] = []
    with model.lock, torch.inference_mode():
        with model.wrapped.trace(**inputs):
            saved.append(model.layers()[model.num_layers - 1].output.save())
            saved.append(model.wrapped.output.logits.save())
        lens = model.readout.logprobs(saved[0][0])
        own = saved[1][0].to(torch.float32).log_softmax(-1)
        return float((lens - own.to(lens.device)).abs().max())


def load_vision_model(spec: VisionSpec, progress: Optional[Progress] = None) -> VisionModel:
    """Resolve, load and wrap `spec`; every user-caused failure is a `HubError`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    start = time.perf_counter()
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    report(progress, 0.0, f"Resolving {spec.label}")
    src, extra = _source(spec)
    config = load_config(src, extra, spec)
    check_vlm_config(config, spec)
    report(progress, 0.1, f"Loading weights ({str(dtype).replace('torch.', '')} on {device})")
    hf_model = _weights(src, extra, spec, device, dtype)
    report(progress, 0.85, "Loading the processor")
    processor = load_processor(src, extra, spec, config)
    report(progress, 0.95, "Wrapping with nnsight and checking the lens")
    try:
        vm = wrap_vision_model(hf_model, processor, spec=spec)
    except HubError:
        raise
    except Exception as exc:
        raise UnsupportedModelError(f"{type(hf_model).__name__} could not run an image prompt: "
                                    f"{_first_line(exc)}") from exc
    vm.card.load_seconds = round(time.perf_counter() - start, 2)
    report(progress, 1.0, "Model ready")
    return vm


_registry: "OrderedDict[VisionSpec, VisionModel]" = OrderedDict()
_registry_lock = threading.Lock()
_spec_locks: dict[VisionSpec, threading.Lock] = {}


def get_vision_model(spec: VisionSpec, progress: Optional[Progress] = None) -> VisionModel:
    """A shared loaded VLM: loaded once per process, least recently used evicted."""
    with _registry_lock:
        if spec in _registry:
            _registry.move_to_end(spec)
            return _registry[spec]
        spec_lock = _spec_locks.setdefault(spec, threading.Lock())
    with spec_lock:
        with _registry_lock:
            if spec in _registry:
                return _registry[spec]
        vm = load_vision_model(spec, progress)
        with _registry_lock:
            _registry[spec] = vm
            while len(_registry) > max(1, int(os.environ.get("HUBCORE_MAX_VISION_MODELS", "1"))):
                _registry.popitem(last=False)
        return vm


def loaded_vision_specs() -> list[VisionSpec]:
    with _registry_lock:
        return list(_registry)


def check_layers(model: VisionModel, layers: Optional[Sequence[int]]) -> list[int]:
    """Sorted distinct layers in 0..L (all when None)."""
    top = model.num_layers
    chosen = list(range(top + 1)) if layers is None else sorted(set(int(l) for l in layers))
    if not chosen or chosen[0] < 0 or chosen[-1] > top:
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    return chosen
