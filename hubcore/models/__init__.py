"""Models of every kind behind one handle: specs, loading, the registry, remote execution.

`ModelSpec` names a model (text LM, Whisper, VLM) and where it runs; `get_model(spec)` returns a
shared `Handle` whose `trace(...)` runs locally, as a dry run of the remote path, or on NDIF.
"""

from .card import ModelCard
from .families import TESTED_FAMILIES, Layout, resolve_layout
from .handle import Handle
from .readout import Readout
from .loading import first_line, load_config, local_or_hub, resolve_device, resolve_dtype
from .registry import get_model, is_loaded, load_model, loaded_specs, max_loaded_models
from .remote import REMOTE_HELP, RemoteError, parse_remote
from .spec import DEVICES, DTYPES, KINDS, ModelSpec, parse_rename
from .text import prepare_tokenizer, wrap_model

HubModel = Handle  # the text-LM handle's historical name

__all__ = [
    "DEVICES", "DTYPES", "KINDS", "REMOTE_HELP", "TESTED_FAMILIES", "Handle", "HubModel", "Layout",
    "ModelCard", "ModelSpec", "Readout", "RemoteError", "first_line", "get_model", "is_loaded",
    "load_config", "load_model", "loaded_specs", "local_or_hub", "max_loaded_models", "parse_remote",
    "parse_rename", "prepare_tokenizer", "resolve_device", "resolve_dtype", "resolve_layout",
    "wrap_model",
]
