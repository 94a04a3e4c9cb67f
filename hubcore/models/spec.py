"""What the user asked for: one hashable `ModelSpec` for text LMs, speech models and VLMs.

A spec names a model the way a user types it (`default`, a Hugging Face hub id, a local folder,
a `.gguf` file), its kind (`text`, `speech`, `vision`), dtype/device, where it runs (`remote`:
off, local dry run, NDIF, or a self-hosted NDIF URL) and, for architectures the alias table does
not know, a user-supplied module map (`rename`). Specs key the model registry and every result
cache, so they never hold a secret: the NDIF key lives in `models.remote` only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import ModelLoadError

KINDS = ("text", "speech", "vision")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cuda", "mps", "cpu")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")

# Vision models: none ships with the app, so a vision spec must name one.
SPEC_SYNTAX = (
    "a Hugging Face hub id already in the local HF cache (e.g. llava-hf/llava-1.5-7b-hf, "
    "google/gemma-3-4b-it, Qwen/Qwen2-VL-2B-Instruct, HuggingFaceTB/SmolVLM-256M-Instruct), "
    "or a local model folder (e.g. /models/llava-1.5-7b-hf)"
)
NO_MODEL = (
    "No vision-language model is set, and none ships with this app (no VLM weights are in any "
    f"package registry): give {SPEC_SYNTAX}."
)

# Roles a user may map with --rename (see models.families).
RENAME_ROLES = ("embed", "layers", "ln_final", "lm_head")


def parse_rename(text: str) -> tuple[tuple[str, str], ...]:
    """`layers=model.decoder.layers,ln_final=model.decoder.final_layer_norm` -> sorted pairs."""
    if not text or not text.strip():
        return ()
    pairs: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        role, sep, path = part.partition("=")
        role, path = role.strip(), path.strip()
        if not sep or not path:
            raise ModelLoadError(
                f"Module map entry '{part.strip()}' is not ROLE=PATH (e.g. layers=model.decoder.layers)."
            )
        if role not in RENAME_ROLES:
            raise ModelLoadError(
                f"Unknown role '{role}' in the module map: use {', '.join(RENAME_ROLES)}."
            )
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[\w]+)*", path):
            raise ModelLoadError(f"'{path}' is not a dotted module path (e.g. model.decoder.layers).")
        pairs[role] = path
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class ModelSpec:
    """A model request; hashable so it can key caches (and never carries a secret)."""

    source: str = "default"
    kind: str = "text"
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    allow_download: bool = False
    remote: str = "off"
    rename: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        from .remote import parse_remote

        object.__setattr__(self, "source", (self.source or "default").strip())
        object.__setattr__(self, "remote", parse_remote(self.remote))
        if isinstance(self.rename, str):
            object.__setattr__(self, "rename", parse_rename(self.rename))
        else:
            object.__setattr__(self, "rename", tuple(sorted(tuple(p) for p in self.rename)))
        if self.kind not in KINDS:
            raise ModelLoadError(f"Unknown model kind '{self.kind}': choose one of {', '.join(KINDS)}.")
        if self.dtype not in DTYPES:
            raise ModelLoadError(f"Unknown dtype '{self.dtype}': choose one of {', '.join(DTYPES)}.")
        if self.device not in DEVICES:
            raise ModelLoadError(f"Unknown device '{self.device}': choose one of {', '.join(DEVICES)}.")
        if self.kind == "vision" and self.source.lower() == "default":
            raise ModelLoadError(NO_MODEL)

    @property
    def origin(self) -> str:
        """Where the weights come from: default, gguf, local or hub."""
        if self.source.lower() == "default":
            return "default"
        if self.source.lower().endswith(".gguf"):
            return "gguf"
        path = Path(self.source).expanduser()
        if path.exists() or self.source.startswith((".", "/", "~")) or os.sep in self.source[:1]:
            return "local"
        return "hub"

    @property
    def label(self) -> str:
        if self.origin == "default":
            if self.kind == "speech":
                from .whisper_base import WHISPER_BASE_LABEL

                return WHISPER_BASE_LABEL
            from .default import DEFAULT_MODEL_LABEL

            return DEFAULT_MODEL_LABEL
        return self.source

    @property
    def is_remote(self) -> bool:
        return self.remote != "off"

    def with_remote(self, remote: str) -> "ModelSpec":
        return replace(self, remote=remote)

    def cli_args(self) -> list[str]:
        """The command-line options that recreate this spec (for "reproduce this run")."""
        args: list[str] = []
        if self.source != "default":
            args += ["--model", self.source]
        if self.dtype != "auto":
            args += ["--dtype", self.dtype]
        if self.device != "auto":
            args += ["--device", self.device]
        if self.trust_remote_code:
            args.append("--trust-remote-code")
        if self.allow_download:
            args.append("--allow-download")
        if self.remote != "off":
            args += ["--remote", self.remote]
        if self.rename:
            args += ["--rename", ",".join(f"{r}={p}" for r, p in self.rename)]
        return args
