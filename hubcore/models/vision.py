"""Vision-language models on the shared handle: spec -> transformers VLM -> nnsight `TransformersModel`.

No VLM weights ship in any package registry, so a vision spec always names the user's model: a
Hugging Face hub id already in the local HF cache (downloads only when allowed) or a local model
folder. `load_vision_model` builds it with `AutoModelForImageTextToText` + `AutoProcessor` and
wraps it in nnsight's `TransformersModel(task="image-text-to-text")` (remote-capable, unlike the
generic `NNsight`). Where the language model's embeddings, decoder blocks, final norm and LM head
sit differs per family; one small table (`FAMILIES`) holds them as the same role names the text
LMs use, bound as nnsight `rename` aliases (`nn.layers`, `nn.ln_final`, `nn.lm_head`, `nn.embed`),
so the lens and `models.intrace` work unchanged. Other architectures are searched for the same
names before they are refused with a message naming the class.

Layer convention as everywhere: 0 = the language model's input embeddings (with the image
features already merged in), i = output of decoder block i, L = last block (before the final norm).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import HubError, ModelLoadError, UnsupportedModelError
from ..progress import Progress, report
from .card import ModelCard
from .families import Layout, fetch, rename_map, with_overrides
from .handle import Handle
from .readout import Readout
from .loading import first_line, load_config, local_or_hub, resolve_device, resolve_dtype, weights_error
from .remote import describe, environment_rows
from .spec import ModelSpec

TASK = "image-text-to-text"


def language_model(path: str, head: str = "lm_head") -> Layout:
    """The roles of a decoder stack at `path` (holding embed_tokens, layers and norm)."""
    return Layout(f"{path}.embed_tokens", f"{path}.layers", f"{path}.norm", head)


@dataclass(frozen=True)
class Family:
    """Where one VLM family keeps its language model, and how its image tokens are laid out."""

    label: str
    layout: Layout  # the language model's roles (the nnsight rename map)
    nested_images: bool = True  # processor wants one list of images per text
    images_kwargs: tuple[tuple[str, Any], ...] = ()  # e.g. no image splitting (one grid per image)
    mrope: bool = False  # 3-D rotary positions (Qwen-VL): generation passes them explicitly

    def rename(self, layout: Optional[Layout] = None) -> dict[str, str]:
        """The nnsight `rename` map: module path -> role."""
        return rename_map(layout or self.layout)


FAMILIES: dict[str, Family] = {
    "llava": Family("LLaVA-1.5 (llava-hf)", language_model("model.language_model")),
    "gemma3": Family("Gemma 3 (4B and up)", language_model("model.language_model")),
    "qwen2_vl": Family("Qwen2-VL", language_model("model.language_model"), mrope=True),
    "qwen2_5_vl": Family("Qwen2.5-VL", language_model("model.language_model"), mrope=True),
    "idefics3": Family("Idefics3", language_model("model.text_model"),
                       images_kwargs=(("do_image_splitting", False),)),
    "smolvlm": Family("SmolVLM", language_model("model.text_model"),
                      images_kwargs=(("do_image_splitting", False),)),
    "chameleon": Family("Chameleon", language_model("model"), nested_images=False),
}
# Checked in the test-suite with tiny random-weight models (load, positions, capture, lens, dry run).
TESTED_FAMILIES = ("llava", "gemma3", "qwen2_vl")
_FALLBACK_LMS = ("model.language_model", "model.text_model", "language_model.model", "model")


@dataclass(eq=False)
class VisionHandle(Handle):
    """A loaded VLM: the shared handle plus its processor, family and image placeholder token."""

    @property
    def processor(self) -> Any:
        return self.parts["processor"]

    @property
    def family_info(self) -> Family:
        return self.parts["family"]

    @property
    def image_token_id(self) -> int:
        return int(self.parts["image_token_id"])

    @property
    def config(self) -> Any:
        return self.hf.config

    @property
    def text_config(self) -> Any:
        return getattr(self.hf.config, "text_config", None) or self.hf.config


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


def _has(root: Any, path: Optional[str]) -> bool:
    try:
        return bool(path) and fetch(root, path) is not None  # type: ignore[arg-type]
    except AttributeError:
        return False


def _path_of(root: Any, target: Any) -> Optional[str]:
    """The dotted path of submodule `target` inside `root`, if it is one."""
    for name, module in root.named_modules():
        if module is target and name:
            return name
    return None


def locate(hf: Any, family: str, overrides: Any = ()) -> tuple[Family, Layout]:
    """(family entry, role layout): the table's paths, else the usual names, then the user's map."""
    known = FAMILIES.get(family)
    candidates = ([known.layout] if known else []) + [language_model(p) for p in _FALLBACK_LMS]
    for layout in candidates:
        layout = with_overrides(layout, overrides)
        if _has(hf, layout.layers) and _has(hf, layout.ln_final) and _has(hf, layout.lm_head):
            if not _has(hf, layout.embed):  # only the path differs: find the input embeddings
                found = _path_of(hf, hf.get_input_embeddings())
                if found is None:
                    continue
                layout = Layout(found, layout.layers, layout.ln_final, layout.lm_head)
            info = known or Family(family, layout)
            return info, layout
    raise UnsupportedModelError(
        f"{type(hf).__name__} has no decoder layers + final norm + LM head at the paths this app "
        f"knows ({', '.join(c.layers for c in candidates)}); supported families: "
        f"{', '.join(f.label for f in FAMILIES.values())}. Supply a module map (--rename "
        "layers=...,ln_final=...,lm_head=...) for another layout."
    )


def _readout(hf: Any, layout: Layout) -> Readout:
    """Final norm + LM head. The VLM class's own head path decides the logit transform:
    Gemma3ForConditionalGeneration applies no final soft-capping even when its text config
    names one, so only the top-level config's soft-capping counts."""
    text_config = getattr(hf.config, "text_config", None) or hf.config
    scale = float(text_config.logit_scale) if getattr(text_config, "logit_scale", None) else 1.0
    return Readout(norm=fetch(hf, layout.ln_final), head=fetch(hf, layout.lm_head),
                   softcap=getattr(hf.config, "final_logit_softcapping", None), scale=scale)


def _card(name: str, hf: Any, layout: Layout, spec: ModelSpec, seconds: float,
          dtype: Optional[str] = None, device: Optional[str] = None) -> ModelCard:
    text_config = getattr(hf.config, "text_config", None) or hf.config
    head = fetch(hf, layout.lm_head)
    first = next(hf.parameters())
    return ModelCard(
        name=name,
        family=str(hf.config.model_type),
        architecture=type(hf).__name__,
        layers=len(fetch(hf, layout.layers)),
        width=int(getattr(text_config, "hidden_size", 0) or head.weight.shape[1]),
        vocab=int(head.weight.shape[0]),
        parameters=int(sum(p.numel() for p in hf.parameters())),
        dtype=dtype or str(first.dtype).replace("torch.", ""),
        device=device or str(first.device),
        load_seconds=round(seconds, 2),
        kind="vision",
        runs_on=describe(spec.remote),
        extra=[("Image token id", str(image_token_id(hf.config)))],
    )


def _tokenizer(processor: Any, hf: Any) -> Any:
    """The processor's tokenizer with left padding and a pad token (batched prompts need both)."""
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        raise UnsupportedModelError(f"The processor of {type(hf).__name__} has no tokenizer.")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def _handle(spec: ModelSpec, nn: Any, hf: Any, processor: Any, tokenizer: Any, info: Family,
            layout: Layout, card: ModelCard) -> VisionHandle:
    return VisionHandle(
        spec=spec, nn=nn, tokenizer=tokenizer, card=card, layout=layout, readout=_readout(hf, layout),
        accepts_position_ids="position_ids" in inspect.signature(hf.forward).parameters,
        parts={"processor": processor, "family": info, "image_token_id": image_token_id(hf.config)},
    )


def _wrapper(module_or_src: Any, processor: Any, tokenizer: Any, rename: dict[str, str], **kw: Any) -> Any:
    from nnsight.modeling.transformers import TransformersModel

    return TransformersModel(module_or_src, task=TASK, processor=processor, tokenizer=tokenizer,
                             rename=rename, **kw)


def wrap_vision_model(hf_model: Any, processor: Any, spec: Optional[ModelSpec] = None,
                      name: Optional[str] = None, load_seconds: float = 0.0,
                      check: bool = True) -> VisionHandle:
    """Wrap an already-loaded VLM and its processor (also used for in-process test models)."""
    spec = spec or ModelSpec(source=name or type(hf_model).__name__, kind="vision")
    hf_model.eval().requires_grad_(False)
    info, layout = locate(hf_model, str(hf_model.config.model_type), spec.rename)
    image_token_id(hf_model.config)  # fail early when the image placeholder is unknown
    tokenizer = _tokenizer(processor, hf_model)
    try:
        nn = _wrapper(hf_model, processor, tokenizer, info.rename(layout))
    except Exception as exc:
        raise UnsupportedModelError(
            f"{type(hf_model).__name__} cannot be wrapped for tracing: {first_line(exc)}"
        ) from exc
    card = _card(name or spec.label, hf_model, layout, spec, load_seconds)
    handle = _handle(spec, nn, hf_model, processor, tokenizer, info, layout, card)
    if check:
        handle.card.lens_check = lens_self_check(handle)
    return handle


def lens_self_check(handle: VisionHandle) -> float:
    """Max |lens at layer L - the model's own log-probs| over a solid-colour image prompt, run
    through `handle.trace` (so a remote handle checks the server's model)."""
    import nnsight
    import torch

    from PIL import Image

    from .intrace import lens_logits, residual
    from .vision_inputs import build_prompt, encode

    red = Image.new("RGB", (224, 224), (255, 0, 0))  # any image works: the lens check compares paths
    inputs = encode(handle, [red], [build_prompt(handle, "What colour is this?")])
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


# ---------------------------------------------------------------------------------------------
# Loading


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


def _weights(src: str, extra: dict[str, Any], spec: ModelSpec, device: str, dtype: Any) -> Any:
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = dict(extra, dtype=dtype, trust_remote_code=spec.trust_remote_code)
    if device == "cuda":
        kwargs["device_map"] = "auto"
    try:
        model = AutoModelForImageTextToText.from_pretrained(src, **kwargs)
    except HubError:
        raise
    except Exception as exc:
        raise weights_error(spec, dtype, exc) from exc
    if device != "cuda":
        model = model.to(device)
    return model.eval()


def load_processor(src: str, extra: dict[str, Any], spec: Any, config: Any) -> Any:
    """`AutoProcessor`, or for Qwen-VL families without torchvision (whose video processor
    needs it) the image processor + tokenizer behind `vision_inputs.QwenVLProcessor`."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    from .vision_inputs import QwenVLProcessor

    kw = dict(extra, trust_remote_code=spec.trust_remote_code)
    try:
        return AutoProcessor.from_pretrained(src, **kw)
    except Exception as exc:
        if config.model_type not in ("qwen2_vl", "qwen2_5_vl"):
            raise ModelLoadError(f"Could not load the processor of '{spec.source}': "
                                 f"{first_line(exc)}") from exc
        try:
            return QwenVLProcessor(AutoImageProcessor.from_pretrained(src, **kw),
                                   AutoTokenizer.from_pretrained(src, **kw))
        except Exception as exc2:
            raise ModelLoadError(f"Could not load the processor of '{spec.source}': "
                                 f"{first_line(exc2)}") from exc2


def _source(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    if spec.origin == "gguf":
        raise ModelLoadError(f"'{spec.source}' is a GGUF file; vision-language models load from a "
                             "Hugging Face folder or hub id.")
    return local_or_hub(spec, "llava-hf/llava-1.5-7b-hf")


def _remote_handle(spec: ModelSpec, src: str, extra: dict[str, Any], config: Any, start: float,
                   progress: Optional[Progress]) -> VisionHandle:
    """A handle whose weights live on NDIF: meta model from the config, traces shipped."""
    processor = load_processor(src, extra, spec, config)
    report(progress, 0.5, "Building the model skeleton (no weights: they stay on the server)")
    import torch
    from transformers import AutoModelForImageTextToText

    with torch.device("meta"):
        meta = AutoModelForImageTextToText.from_config(config, trust_remote_code=spec.trust_remote_code)
    info, layout = locate(meta, str(config.model_type), spec.rename)
    tokenizer = _tokenizer(processor, meta)
    try:
        nn = _wrapper(src, processor, tokenizer, info.rename(layout),
                      trust_remote_code=spec.trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(f"Could not build '{spec.source}' for a remote run: {first_line(exc)}") from exc
    module = nn._module
    dtype = str(getattr(config, "dtype", None) or "auto")
    card = _card(spec.label, module, layout, spec, time.perf_counter() - start,
                 dtype=dtype.replace("torch.", ""), device="server")
    handle = _handle(spec, nn, module, processor, tokenizer, info, layout, card)
    report(progress, 0.7, "Checking the lens on the server")
    handle.card.lens_check = lens_self_check(handle)
    return handle


def load_vision_model(spec: ModelSpec, progress: Optional[Progress] = None) -> VisionHandle:
    """Resolve, load and wrap `spec` (kind "vision"); every user-caused failure is a `HubError`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    start = time.perf_counter()
    report(progress, 0.0, f"Resolving {spec.label}")
    src, extra = _source(spec)
    config = load_config(src, extra, spec)
    check_vlm_config(config, spec)
    if spec.remote not in ("off", "local"):
        handle = _remote_handle(spec, src, extra, config, start, progress)
    else:
        device = resolve_device(spec.device)
        dtype = resolve_dtype(spec.dtype, device)
        report(progress, 0.1, f"Loading weights ({str(dtype).replace('torch.', '')} on {device})")
        hf_model = _weights(src, extra, spec, device, dtype)
        report(progress, 0.85, "Loading the processor")
        processor = load_processor(src, extra, spec, config)
        report(progress, 0.95, "Wrapping with nnsight and checking the lens")
        try:
            handle = wrap_vision_model(hf_model, processor, spec=spec)
        except HubError:
            raise
        except Exception as exc:
            raise UnsupportedModelError(f"{type(hf_model).__name__} could not run an image prompt: "
                                        f"{first_line(exc)}") from exc
    handle.card.environment, handle.card.warnings = environment_rows(spec.remote)
    handle.card.load_seconds = round(time.perf_counter() - start, 2)
    report(progress, 1.0, "Model ready")
    return handle

