"""Batched capture of the residual stream with nnsight, locally or remotely.

Layer convention everywhere: 0 = the embedding output (input of block 1), i = output of block i,
L = output of the last block, before the final norm. One trace per batch keeps only the layers
and positions asked for (selected inside the trace, so a remote run ships just those rows) and
stops the forward after the last layer needed, so the LM head never runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from .errors import InputError
from .models.intrace import residual
from .oom import run_halving
from .progress import Progress, report
from .tokens import Encoded, encode, model_inputs, plan_batches

if TYPE_CHECKING:
    from .models.handle import Handle

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


def positions_for(spec: PositionSpec, encoded: Sequence[Encoded]) -> list[list[int]]:
    """Token positions per text for "last", "all" or explicit (negative = from the end) indices."""
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


def check_layers(model: "Handle", layers: Optional[Sequence[int]]) -> list[int]:
    """Sorted distinct layers in 0..L (all of them when None); one sentence otherwise."""
    top = model.num_layers
    try:
        chosen = list(range(top + 1)) if layers is None else sorted(set(int(l) for l in layers))
    except (TypeError, ValueError):
        raise InputError(f"Layers must be whole numbers in 0..{top} for this model.") from None
    if not chosen or chosen[0] < 0 or chosen[-1] > top:
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    return chosen


def batch_index(encoded: Sequence[Encoded], batch: Sequence[int], wanted: Sequence[Sequence[int]],
                width: int) -> tuple[Any, Any]:
    """(rows, cols) of every wanted position of `batch` in its left-padded `[B, width]` grid."""
    import torch

    rows, cols = [], []
    for r, i in enumerate(batch):
        pad = width - len(encoded[i])
        rows += [r] * len(wanted[i])
        cols += [pad + p for p in wanted[i]]
    return torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)


def capture_encoded(
    model: "Handle",
    encoded: Sequence[Encoded],
    positions: PositionSpec = "last",
    layers: Optional[Sequence[int]] = None,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
    normed: bool = False,
) -> Capture:
    """Capture pre-tokenised texts (see `capture`); `normed` applies the model's final norm to
    every captured state inside the trace (what the lens reads), e.g. for PCA trajectories."""
    import nnsight
    import torch

    chosen = check_layers(model, layers)
    wanted = positions_for(positions, encoded)
    batches = plan_batches([len(e) for e in encoded], token_budget)
    results: list[Any] = [None] * len(encoded)
    nn = model.nn
    done = 0

    def run_batch(batch: Sequence[int]) -> None:
        inputs = model_inputs(model, [encoded[i].ids for i in batch])
        rows, cols = batch_index(encoded, batch, wanted, inputs["input_ids"].shape[1])
        with model.trace(**inputs) as tracer:
            picked = []
            for layer in chosen:  # module access must follow execution order
                h = residual(nn, layer)
                row = h[rows.to(h.device), cols.to(h.device)]
                picked.append(nn.ln_final(row) if normed else row)
            saved = nnsight.save(picked)
            tracer.stop()  # nothing after the last needed block runs (no LM head)
        stacked = torch.stack([s.to(torch.float32).cpu() for s in saved], dim=1)  # [P, n, d]
        start = 0
        for i in batch:
            results[i] = stacked[start:start + len(wanted[i])].clone()
            start += len(wanted[i])

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
    model: "Handle",
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


def capture_last(model: "Handle", texts: Sequence[str], **kwargs: Any) -> Any:
    """Float32 CPU tensor `[N, L+1, d]` of every layer at each text's last token."""
    return capture(model, texts, positions="last", **kwargs).stacked()
