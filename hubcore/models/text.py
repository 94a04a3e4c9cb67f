"""Text LMs: spec -> transformers causal LM -> nnsight `TransformersModel` handle.

Weights load with `AutoModelForCausalLM` (so the embedded GGUF, dtype/device choices and
`device_map="auto"` over several GPUs keep their own clear errors), and the loaded module is
wrapped by nnsight's `TransformersModel(task="text-generation")` with the family's `rename`
aliases. A model that runs on NDIF is never loaded here: nnsight builds it on the meta device
from its config, and every trace is shipped to the server.

At every load the lens is checked against the model (last-layer lens == the model's own
log-probs) through the same trace path the experiments use; a wrong module map shows up there.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, Optional

from ..errors import HubError, ModelLoadError, UnsupportedModelError
from ..progress import Progress, report, scaled
from .card import ModelCard
from .families import Layout, fetch, rename_map, resolve_layout
from .handle import Handle
from .readout import Readout
from .loading import first_line, load_config, local_or_hub, resolve_device, resolve_dtype, weights_error
from .remote import describe, environment_rows
from .spec import HUB_ID, ModelSpec


def text_config(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def check_causal_lm(config: Any, spec: ModelSpec) -> None:
    """Refuse configs that AutoModelForCausalLM cannot build, naming the class."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

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


def source_path(spec: ModelSpec, progress: Optional[Progress]) -> tuple[str, dict[str, Any]]:
    """Where from_pretrained should look, and the extra kwargs that implies."""
    if spec.origin == "default":
        from .default import default_model_dir

        return str(default_model_dir(scaled(progress, 0.0, 0.7))), {"local_files_only": True}
    path = Path(spec.source).expanduser()
    if spec.origin == "gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file '{spec.source}' does not exist.")
        return str(path.parent), {"gguf_file": path.name, "local_files_only": True}
    if spec.origin == "hub" and not HUB_ID.match(spec.source):
        raise ModelLoadError(
            f"'{spec.source}' is neither 'default', an existing local path, a .gguf file, "
            "nor a Hugging Face hub id like 'google/gemma-2-2b'."
        )
    return local_or_hub(spec, "google/gemma-2-2b")


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
        raise weights_error(spec, dtype, exc) from exc
    except Exception as exc:
        if spec.origin == "gguf":
            raise ModelLoadError(
                f"transformers cannot load the GGUF file '{spec.source}' "
                f"(unsupported architecture or quantisation type): {first_line(exc)}"
            ) from exc
        raise weights_error(spec, dtype, exc) from exc
    if device != "cuda":
        model = model.to(device)
    return model.eval()


def _load_tokenizer(src: str, extra: dict[str, Any], spec: ModelSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(src, trust_remote_code=spec.trust_remote_code, **extra)
    except Exception as exc:
        raise ModelLoadError(f"Could not load the tokenizer of '{spec.source}': {first_line(exc)}") from exc


def _card(name: str, module: Any, layout: Layout, config: Any, spec: ModelSpec, load_seconds: float,
          dtype: Optional[str] = None, device: Optional[str] = None) -> ModelCard:
    head = fetch(module, layout.lm_head)
    first = next(module.parameters())
    cfg = text_config(config)
    return ModelCard(
        name=name,
        family=str(getattr(cfg, "model_type", "?")),
        architecture=type(module).__name__,
        layers=len(fetch(module, layout.layers)),
        width=int(getattr(cfg, "hidden_size", 0) or head.weight.shape[1]),
        vocab=int(head.weight.shape[0]),
        parameters=int(sum(p.numel() for p in module.parameters())),
        dtype=dtype or str(first.dtype).replace("torch.", ""),
        device=device or str(first.device),
        load_seconds=round(load_seconds, 2),
        kind="text",
        runs_on=describe(spec.remote),
    )


def wrap_model(hf_model: Any, tokenizer: Any, spec: Optional[ModelSpec] = None, load_seconds: float = 0.0,
               name: Optional[str] = None, check: bool = True) -> Handle:
    """Wrap an already-loaded transformers causal LM (also used for in-process test models)."""
    from nnsight.modeling.transformers import TransformersModel

    spec = spec or ModelSpec(source=name or type(hf_model).__name__)
    tokenizer = prepare_tokenizer(tokenizer)
    # analysis only: no autograd graph (a graph through a 262k-vocabulary head leaks memory fast)
    hf_model.eval().requires_grad_(False)
    config = text_config(getattr(hf_model, "config", None))
    model_type = str(getattr(config, "model_type", type(hf_model).__name__))
    layout = resolve_layout(hf_model, model_type, spec.rename)
    try:
        nn = TransformersModel(hf_model, tokenizer=tokenizer, task="text-generation",
                               rename=rename_map(layout))
    except Exception as exc:
        raise UnsupportedModelError(
            f"{type(hf_model).__name__} cannot be wrapped for tracing: {first_line(exc)}"
        ) from exc
    handle = Handle(
        spec=spec,
        nn=nn,
        tokenizer=tokenizer,
        card=_card(name or spec.label, hf_model, layout, hf_model.config, spec, load_seconds),
        layout=layout,
        readout=Readout.from_config(fetch(hf_model, layout.ln_final), fetch(hf_model, layout.lm_head),
                                    hf_model.config,
                                    fetch(hf_model, layout.head_in) if layout.head_in else None),
        accepts_position_ids="position_ids" in inspect.signature(hf_model.forward).parameters,
    )
    if check:
        from .readout import lens_self_check

        handle.card.lens_check = lens_self_check(handle)
    return handle


def _remote_handle(spec: ModelSpec, progress: Optional[Progress]) -> Handle:
    """A handle whose weights live on NDIF: meta model from the config, traces shipped."""
    import torch
    from nnsight.modeling.transformers import TransformersModel
    from transformers import AutoModelForCausalLM

    if spec.origin != "hub":
        raise ModelLoadError(
            "NDIF runs models by Hugging Face hub id; the embedded default model, local folders "
            "and .gguf files are not hosted there: give --model with a hub id NDIF hosts (e.g. "
            "meta-llama/Llama-3.1-8B), or run with --remote off/local."
        )
    start = time.perf_counter()
    src, extra = local_or_hub(spec, "meta-llama/Llama-3.1-8B")
    report(progress, 0.1, f"Reading the config of {spec.label}")
    config = load_config(src, extra, spec)
    check_causal_lm(config, spec)
    tokenizer = prepare_tokenizer(_load_tokenizer(src, extra, spec))
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(config, trust_remote_code=spec.trust_remote_code)
    layout = resolve_layout(meta, str(text_config(config).model_type), spec.rename)
    report(progress, 0.5, "Building the model skeleton (no weights: they stay on the server)")
    try:
        nn = TransformersModel(src, tokenizer=tokenizer, task="text-generation",
                               rename=rename_map(layout), trust_remote_code=spec.trust_remote_code,
                               **extra)
    except Exception as exc:
        raise ModelLoadError(f"Could not build '{spec.source}' for a remote run: {first_line(exc)}") from exc
    module = nn._module
    dtype = str(getattr(text_config(config), "dtype", None) or "auto")
    handle = Handle(
        spec=spec, nn=nn, tokenizer=tokenizer,
        card=_card(spec.label, module, layout, config, spec, time.perf_counter() - start,
                   dtype=dtype.replace("torch.", ""), device="server"),
        layout=layout,
        readout=Readout.from_config(fetch(module, layout.ln_final), fetch(module, layout.lm_head), config,
                                    fetch(module, layout.head_in) if layout.head_in else None),
        accepts_position_ids="position_ids" in inspect.signature(module.forward).parameters,
    )
    rows, warnings = environment_rows(spec.remote)
    handle.card.environment, handle.card.warnings = rows, warnings
    report(progress, 0.7, "Checking the lens on the server")
    from .readout import lens_self_check

    handle.card.lens_check = lens_self_check(handle)
    handle.card.load_seconds = round(time.perf_counter() - start, 2)
    return handle


def load_text_model(spec: ModelSpec, progress: Optional[Progress] = None) -> Handle:
    """Resolve, load and wrap `spec`; every user-caused failure is a `HubError`."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress callback reports the load
    report(progress, 0.0, f"Resolving {spec.label}")
    if spec.remote not in ("off", "local"):
        handle = _remote_handle(spec, progress)
        report(progress, 1.0, "Model ready (runs remotely)")
        return handle
    start = time.perf_counter()
    device = resolve_device(spec.device)
    dtype = resolve_dtype(spec.dtype, device)
    src, extra = source_path(spec, progress)
    config = load_config(src, extra, spec)
    check_causal_lm(config, spec)
    report(progress, 0.72, f"Loading weights ({str(dtype).replace('torch.', '')} on {device})")
    try:
        hf_model = _load_weights(src, extra, spec, device, dtype)
    except ModelLoadError:
        if spec.origin != "default":
            raise
        # A cache that passed the size check but does not load (bit rot) is rebuilt once.
        from ..cache import invalidate

        invalidate(Path(src))
        src, extra = source_path(spec, progress)
        hf_model = _load_weights(src, extra, spec, device, dtype)
    report(progress, 0.9, "Loading the tokenizer")
    tokenizer = _load_tokenizer(src, extra, spec)
    report(progress, 0.95, "Wrapping with nnsight and checking the lens")
    handle = wrap_model(hf_model, tokenizer, spec=spec, load_seconds=time.perf_counter() - start)
    rows, warnings = environment_rows(spec.remote)
    handle.card.environment, handle.card.warnings = rows, warnings
    handle.card.load_seconds = round(time.perf_counter() - start, 2)
    report(progress, 1.0, "Model ready")
    return handle
