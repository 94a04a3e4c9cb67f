"""The readout after the last block, and the check that the lens reads it right.

`Readout` reproduces exactly what the model does after its last block: final norm, an optional
projection (OPT-350m), the LM head (with its bias) and any logit transformation the architecture
applies (Gemma 2's final soft-capping, Cohere's logit scale, Granite's logit divisor). At the last
layer the lens therefore *is* the model's next-token distribution, and `lens_self_check` verifies
that at every load, through the same trace path the experiments use (so a remote handle checks
the server's model, and a wrong module map shows up here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..tokens import model_inputs
from .intrace import lens_logits, residual


@dataclass
class Readout:
    """The model's output path after the last block: final norm, optional projection, head,
    and the logit transformation the architecture applies (soft-capping, logit scaling)."""

    norm: Any  # local torch module (meta weights when the model only runs on NDIF)
    head: Any
    head_in: Any = None
    softcap: Optional[float] = None
    scale: float = 1.0

    @classmethod
    def from_config(cls, norm: Any, head: Any, config: Any, head_in: Any = None) -> "Readout":
        config = getattr(config, "text_config", None) or config
        softcap = getattr(config, "final_logit_softcapping", None)
        scale = 1.0
        if getattr(config, "logit_scale", None):  # Cohere multiplies logits
            scale *= float(config.logit_scale)
        if getattr(config, "logits_scaling", None):  # Granite divides them
            scale /= float(config.logits_scaling)
        return cls(norm=norm, head=head, head_in=head_in, softcap=softcap, scale=scale)

    def trace_args(self) -> tuple[bool, Optional[float], float]:
        """(has a projection before the head, softcap, scale) for `intrace.lens_logits`."""
        return self.head_in is not None, self.softcap, self.scale

    def logits(self, hidden: Any, apply_norm: bool = True, ids: Any = None) -> Any:
        """Float32 logits of local hidden states `[..., d]` (local weights only).

        `ids` (a long tensor of vocabulary ids) restricts the head to those rows: what the tuned
        lens's trainer needs, where a full `[positions x vocab]` product per step would dominate.
        """
        import torch

        param = next(self.head.parameters())
        h = hidden.to(device=param.device, dtype=param.dtype)
        if apply_norm:
            h = self.norm(h)
        if self.head_in is not None:
            h = self.head_in(h)
        if ids is None:
            out = self.head(h).to(torch.float32)
        else:
            rows = ids.to(param.device)
            bias = getattr(self.head, "bias", None)
            out = torch.nn.functional.linear(h, self.head.weight[rows],
                                             None if bias is None else bias[rows]).to(torch.float32)
        if self.scale != 1.0:
            out = out * self.scale
        if self.softcap:
            out = torch.tanh(out / self.softcap) * self.softcap
        return out

    def logprobs(self, hidden: Any, apply_norm: bool = True) -> Any:
        return self.logits(hidden, apply_norm).log_softmax(dim=-1)


def lens_self_check(model: Any, probe: str = "The capital of France is Paris. 今天") -> float:
    """Max |lens at layer L - the model's own log-probs| over a short probe text.

    Runs through `model.trace`, so a remote handle checks the server's model.
    """
    import nnsight
    import torch

    ids = model.tokenizer(probe)["input_ids"]
    inputs = model_inputs(model, [ids])
    head_in, softcap, scale = model.readout.trace_args()
    nn = model.nn
    top = model.num_layers
    with model.lock, torch.inference_mode():
        with model.trace(**inputs):
            h = residual(nn, top)
            lens = lens_logits(nn, h[0], True, head_in, softcap, scale).log_softmax(-1)
            own = nn.output.logits[0].to(torch.float32).log_softmax(-1)
            diff = nnsight.save((lens - own.to(lens.device)).abs().max().cpu())
    return float(diff)
