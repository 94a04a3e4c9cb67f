"""The model card: what the sidebar and the CLI show about a loaded model, for every kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ModelCard:
    """Facts about one loaded model (text LM, Whisper or VLM)."""

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
    kind: str = "text"
    runs_on: str = "this machine"
    extra: list[tuple[str, str]] = field(default_factory=list)  # kind-specific rows
    environment: list[tuple[str, str]] = field(default_factory=list)  # remote: package, local vs server
    warnings: list[str] = field(default_factory=list)

    def as_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("Model", self.name),
            ("Family", f"{self.family} ({self.architecture})"),
            ("Layers", f"{self.layers} blocks (lens layers 0..{self.layers})"),
            ("Width", str(self.width)),
            ("Vocabulary", f"{self.vocab:,}"),
            ("Parameters", f"{self.parameters / 1e6:,.1f} M"),
            ("dtype / device", f"{self.dtype} / {self.device}"),
            ("Runs on", self.runs_on),
            ("Load time", f"{self.load_seconds:.1f} s"),
            ("Lens check", f"max |Δ log p| = {self.lens_check:.1e} at layer {self.layers}"),
        ]
        return rows + list(self.extra)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
