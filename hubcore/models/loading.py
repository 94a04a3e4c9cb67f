"""Loading steps shared by every model kind: device and dtype, where the files are, the config.

Each step turns its failures into one sentence (`HubError`) naming what the user can change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HubError, ModelLoadError
from .spec import HUB_ID


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


def first_line(exc: BaseException) -> str:
    """The informative line of an exception message (some embed a whole module printout)."""
    lines = [l.strip() for l in str(exc).strip().splitlines() if l.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and lines[0].endswith(("(", "{", "[", ":")):
        return lines[-1]
    return lines[0]


def local_or_hub(spec: Any, example: str) -> tuple[str, dict[str, Any]]:
    """A local model folder (must hold config.json) or a hub id (offline unless allowed).

    `example` is a hub id of the right kind for the error message.
    """
    path = Path(spec.source).expanduser()
    if spec.origin == "local":
        if not path.exists():
            raise ModelLoadError(f"Local path '{spec.source}' does not exist.")
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelLoadError(
                f"'{spec.source}' is not a Hugging Face model directory (no config.json in it)."
            )
        return str(path), {"local_files_only": True}
    if not HUB_ID.match(spec.source):
        raise ModelLoadError(
            f"'{spec.source}' is neither an existing local path nor a Hugging Face hub id like '{example}'."
        )
    return spec.source, {"local_files_only": not spec.allow_download}


def load_config(src: str, extra: dict[str, Any], spec: Any) -> Any:
    """`AutoConfig.from_pretrained` with one clear sentence for each way it fails."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(src, trust_remote_code=spec.trust_remote_code, **extra)
    except HubError:
        raise
    except Exception as exc:
        if spec.origin == "hub" and extra.get("local_files_only"):
            raise ModelLoadError(
                f"Model '{spec.source}' is not in the local Hugging Face cache, and downloads are "
                "off (the app works offline by default): download it once on a machine with "
                "internet, pass a local directory, or allow downloads (sidebar: Advanced > Allow "
                "downloads from the hub; CLI: --allow-download or HUBCORE_ALLOW_DOWNLOAD=1)."
            ) from exc
        if spec.origin == "hub":
            raise ModelLoadError(
                f"Could not fetch '{spec.source}' from the Hugging Face hub: {first_line(exc)}"
            ) from exc
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(
                f"'{spec.source}' needs custom code from its repository; enable "
                "'trust remote code' only if you trust its author."
            ) from exc
        raise ModelLoadError(f"Could not read the config of '{spec.source}': {first_line(exc)}") from exc


def weights_error(spec: Any, dtype: Any, exc: BaseException) -> ModelLoadError:
    """One sentence for a failed `from_pretrained` (out of memory named as such)."""
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ModelLoadError(
            f"Not enough memory to load '{spec.source}' as {dtype}: try a smaller dtype "
            "(bfloat16/float16), a GPU, or --remote ndif."
        )
    return ModelLoadError(f"Could not load the weights of '{spec.source}': {first_line(exc)}")
