"""One bounded registry of loaded models, for every kind.

Pages, sessions and CLI commands share loaded models: `get_model(spec)` loads a spec once per
process (two sessions asking for the same model wait for one load), keeps at most
`HUBCORE_MAX_MODELS` (default 2) and evicts the least recently used. Loads run outside the
registry lock, so a cache hit never waits behind another model's load. A spec that differs only
in running the local dry run (`remote="local"`) shares the weights of its `remote="off"` twin.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Optional

from ..progress import Progress
from .spec import ModelSpec

_registry: "OrderedDict[ModelSpec, Any]" = OrderedDict()
_registry_lock = threading.Lock()
_spec_locks: dict[ModelSpec, threading.Lock] = {}


def max_loaded_models() -> int:
    return max(1, int(os.environ.get("HUBCORE_MAX_MODELS", "2")))


def load_model(spec: ModelSpec, progress: Optional[Progress] = None) -> Any:
    """Load `spec` (no registry): text LM, speech model or VLM by `spec.kind`."""
    if spec.kind == "speech":
        from .speech import load_speech_model

        return load_speech_model(spec, progress)
    if spec.kind == "vision":
        from .vision import load_vision_model

        return load_vision_model(spec, progress)
    from .text import load_text_model

    return load_text_model(spec, progress)


def _weights_key(spec: ModelSpec) -> ModelSpec:
    return spec.with_remote("off") if spec.remote == "local" else spec


def _as_requested(handle: Any, spec: ModelSpec) -> Any:
    have = getattr(getattr(handle, "spec", None), "remote", spec.remote)
    return handle if have == spec.remote else handle.variant(spec.remote)


def get_model(spec: ModelSpec, progress: Optional[Progress] = None) -> Any:
    """A shared, loaded model for `spec`: loaded once per process, least recently used evicted."""
    key = _weights_key(spec)
    with _registry_lock:
        if key in _registry:
            _registry.move_to_end(key)
            return _as_requested(_registry[key], spec)
        spec_lock = _spec_locks.setdefault(key, threading.Lock())
    with spec_lock:  # two sessions asking for the same model load it once
        with _registry_lock:
            if key in _registry:
                return _as_requested(_registry[key], spec)
        handle = load_model(key, progress)  # outside the registry lock
        with _registry_lock:
            _registry[key] = handle
            while len(_registry) > max_loaded_models():
                _registry.popitem(last=False)
    return _as_requested(handle, spec)


def loaded_specs(kind: Optional[str] = None) -> list[ModelSpec]:
    with _registry_lock:
        return [s for s in _registry if kind is None or s.kind == kind]


def is_loaded(spec: ModelSpec) -> bool:
    with _registry_lock:
        return _weights_key(spec) in _registry
