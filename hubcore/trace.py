"""Batched capture of the residual stream with nnsight.

Layer convention everywhere: 0 = the embedding output (input of block 1), i = output of block i,
L = output of the last block, before the final norm. One nnsight trace per batch saves only the
layers and positions asked for and stops the forward after the last layer needed, so the LM head
(the most expensive part of small multilingual models) never runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from .errors import InputError
from .oom import run_halving
from .progress import Progress, report
from .tokens import Encoded, encode, pad_left, plan_batches

if TYPE_CHECKING:
    from .models import HubModel

PositionSpec = Union[str, Sequence[Sequence[int]]]  # "last", "all", or indices per text
DEFAULT_TOKEN_BUDGET = 4096


@dataclass
class Capture:
    """Hidden states of each text: `states[i]` is float32 CPU `[P_i, n_layers, d]`."""

    states: list[Any]
    positions: list[list[int]]  # token index (in the unpadded text) of each captured row
    encoded: list[Encoded]
    layers: list[int]

    def stacked(self) -> Any:
        """`[N, n_layers, d]` when every text has exactly one captured position."""
        import torch

        if any(s.shape[0] != 1 for s in self.states):
            raise ValueError("stacked() needs exactly one captured position per text")
        return torch.cat(self.states, dim=0)


def _positions_for(spec: PositionSpec, encoded: Sequence[Encoded]) -> list[list[int]]:
    if isinstance(spec, str):
        if spec == "last":
            return [[len(e) - 1] for e in encoded]
        if spec == "all":
            return [list(range(len(e))) for e in encoded]
        raise InputError(f"Unknown position spec '{spec}': use 'last', 'all' or index lists.")
    if len(spec) != len(encoded):
        raise InputError("Give one list of token positions per text.")
    out = []
    for e, idx in zip(encoded, spec):
        norm = [i + len(e) if i < 0 else i for i in idx]
        if any(i < 0 or i >= len(e) for i in norm):
            raise InputError(f"Token position out of range for a text of {len(e)} tokens.")
        out.append(norm)
    return out


def _check_layers(model: "HubModel", layers: Optional[Sequence[int]]) -> list[int]:
    top = model.num_layers
    chosen = list(range(top + 1)) if layers is None else sorted(set(int(l) for l in layers))
    if not chosen or chosen[0] < 0 or chosen[-1] > top:
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    return chosen


def capture_encoded(
    model: "HubModel",
    encoded: Sequence[Encoded],
    positions: PositionSpec = "last",
    layers: Optional[Sequence[int]] = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> Capture:
    """Capture pre-tokenised texts (see `capture`)."""
    import torch

    chosen = _check_layers(model, layers)
    wanted = _positions_for(positions, encoded)
    lengths = [len(e) for e in encoded]
    batches = plan_batches(lengths, token_budget)
    results: list[Any] = [None] * len(encoded)
    std = model.std
    device = model.device
    last_only = isinstance(positions, str) and positions == "last"
    done = 0

    def run_batch(batch: Sequence[int]) -> None:
        inputs = pad_left([encoded[i].ids for i in batch], model.tokenizer.pad_token_id, device)
        if not model.accepts_position_ids:
            inputs.pop("position_ids")
        width = inputs["input_ids"].shape[1]
        saved: list[Any] = []
        with std.trace(inputs) as tracer:
            for layer in chosen:
                h = std.layers_input[0] if layer == 0 else std.layers_output[layer - 1]
                # keep only the last column on the device when that is all we need
                saved.append((h[:, -1:] if last_only else h).save())
            tracer.stop()  # nothing after the last needed block runs (no LM head)
        stacked = torch.stack([s.to(torch.float32) for s in saved], dim=2).cpu()  # [B,T,n,d]
        for row, i in enumerate(batch):
            cols = [0] if last_only else [width - lengths[i] + p for p in wanted[i]]
            results[i] = stacked[row, cols].clone()

    with model.lock, torch.inference_mode():
        for batch in batches:
            # out of memory: the batch is halved and retried (down to one text, then a HubError)
            run_halving(run_batch, batch, what="capture batch")
            done += len(batch)
            report(progress, done / len(encoded), f"Captured {done}/{len(encoded)} texts")
    # cloned outside inference mode: callers may centre or edit the states in place
    results = [r.clone() for r in results]
    return Capture(states=results, positions=wanted, encoded=list(encoded), layers=chosen)


def capture(
    model: "HubModel",
    texts: Sequence[str],
    positions: PositionSpec = "last",
    layers: Optional[Sequence[int]] = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> Capture:
    """Hidden states of `texts` at `positions` ("last", "all", or token indices per text).

    Texts are tokenised with the model's special tokens, batched by a token budget, left-padded
    with attention masks and explicit position ids; results come back in input order.
    """
    if not texts:
        raise InputError("No texts to capture.")
    return capture_encoded(model, encode(model.tokenizer, texts), positions, layers, token_budget, progress)


def capture_last(model: "HubModel", texts: Sequence[str], **kwargs: Any) -> Any:
    """Float32 CPU tensor `[N, L+1, d]` of every layer at each text's last token."""
    return capture(model, texts, positions="last", **kwargs).stacked()
