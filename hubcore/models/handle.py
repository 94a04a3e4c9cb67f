"""The loaded-model handle shared by text LMs, Whisper and VLMs.

A `Handle` holds the nnsight-wrapped model (`nn`, whose decoder roles are renamed to `layers`,
`ln_final`, `lm_head`, `embed`), its tokenizer, the readout settings the lens needs, a model card
and one lock (nnsight traces are not thread-safe). `handle.trace(...)` opens an nnsight trace that
runs wherever the spec says (`remote`: off, the local dry run, NDIF, a self-hosted NDIF), so an
experiment written once against `handle.trace` runs locally and remotely alike.

Speech and vision handles add their own parts (encoder layers, processor, image tokens) but keep
the same interface; `variant(remote=...)` gives the same loaded weights under another run target.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import HubError
from .card import ModelCard
from .families import Layout
from .readout import Readout
from .remote import backend_for
from .spec import ModelSpec


@dataclass(eq=False)
class Handle:
    """A loaded model of any kind, ready for capture, lens and interventions."""

    spec: ModelSpec
    nn: Any  # nnsight TransformersModel (roles renamed), or NNsight where no pipeline fits
    tokenizer: Any
    card: ModelCard
    layout: Layout
    readout: Readout
    accepts_position_ids: bool = True
    lock: threading.RLock = field(default_factory=threading.RLock)
    parts: dict[str, Any] = field(default_factory=dict)  # kind-specific: processor, feature extractor ...

    # ---------------------------------------------------------------- facts
    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def hf(self) -> Any:
        """The underlying transformers model (meta weights when it only runs on NDIF)."""
        return self.nn._module

    @property
    def family(self) -> str:
        """The architecture family the card names (e.g. gemma3_text, whisper, llava)."""
        return str(self.card.family)

    @property
    def name(self) -> str:
        """The model's display name (the card's)."""
        return str(self.card.name)

    @property
    def num_layers(self) -> int:
        return int(self.card.layers)

    @property
    def hidden_size(self) -> int:
        return int(self.card.width)

    @property
    def vocab(self) -> int:
        return int(self.card.vocab)

    @property
    def device(self) -> Any:
        return next(self.hf.parameters()).device

    @property
    def remote(self) -> str:
        return self.spec.remote

    @property
    def weights_here(self) -> bool:
        """True when the weights are on this machine (not an NDIF-only handle)."""
        return self.spec.remote in ("off", "local")

    # ---------------------------------------------------------------- running
    def trace(self, *args: Any, **kwargs: Any) -> Any:
        """`nn.trace(...)` routed to where this spec runs (use as `with handle.trace(...):`)."""
        return self.nn.trace(*args, backend=backend_for(self.nn, self.remote), **kwargs)

    def require_weights(self, what: str) -> None:
        """Refuse local-weight work on an NDIF-only handle with one sentence."""
        if not self.weights_here:
            raise HubError(f"{what} needs the model's weights on this machine; it cannot run on "
                           f"NDIF yet: run it with --remote off or local.")

    def variant(self, remote: str) -> "Handle":
        """The same loaded weights (and lock) under another run target (off <-> local)."""
        if remote == self.spec.remote:
            return self
        if not self.weights_here or remote not in ("off", "local"):
            raise HubError("Only a model loaded on this machine can switch between off and local.")
        from .remote import describe

        card = replace(self.card, runs_on=describe(remote))
        return replace(self, spec=replace(self.spec, remote=remote), card=card)

    def part(self, name: str) -> Any:
        return self.parts.get(name)
