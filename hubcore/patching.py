"""Activation patching between prompts: states read in one forward written into another.

A `Patch` is one row of a batch: a target prompt, a token position in it, the layers to write
at and the state to write at each (e.g. the source prompt's last-token state at layer l, or a
concept's mean state at every layer from l on). `patched_reads` runs the rows as one batch of
traces with replace edits (`models.intrace.edit_layers`) and reads each row's next-token
distribution at the prompt's last position through `lens_reduce` at layer L (which *is* the
model's output there): top-k ids and the log-probs of each row's own outcome tokens.

Rows that patch only near the end of their prompt share the rest: locally, each distinct
prompt's prefix runs once and its KV cache is copied to the rows that patch it
(`steering.generation.shared_prefix_inputs`), so a 19-layer sweep over 50 prompts costs 50
prompt passes plus 950 short suffixes. A cache does not travel, so remote runs (and the dry
run) send every row's prompt in full; the results are the same up to float noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .errors import InputError
from .models.intrace import edit_layers, lens_reduce
from .oom import run_halving
from .progress import Progress, report
from .steering.generation import shared_prefix_inputs
from .tokens import Encoded, model_inputs
from .trace import DEFAULT_TOKEN_BUDGET

if TYPE_CHECKING:
    from .models.handle import Handle

MAX_ROWS = 256  # rows per batch: each row holds a copy of its prompt's prefix cache
PREFIX_NOTE = ("The prompts' shared prefixes run once per prompt on this machine; a KV cache does not "
               "travel, so remote runs send every row's prompt in full (same results, more server time).")


@dataclass
class Patch:
    """One row: write `states[i]` at `layers[i]` at token `position` of target prompt `prompt`
    (an index into the encoded prompts; negative positions count from the end). No layers: the
    unpatched prompt."""

    prompt: int
    position: int = -1
    layers: Sequence[int] = ()
    states: Any = None  # float32 [len(layers), d]


def replace_edits(rows_layers: Sequence[Sequence[int]], cols: Sequence[int], rows_states: Sequence[Any]) -> list[tuple]:
    """The replace edits of a batch, one tuple per layer for `intrace.edit_layers`: row r writes
    `rows_states[r][i]` at layer `rows_layers[r][i]`, column `cols[r]`."""
    import torch

    by_layer: dict[int, list[tuple[int, Any]]] = {}
    for r, (layers, states) in enumerate(zip(rows_layers, rows_states)):
        for i, layer in enumerate(layers):
            by_layer.setdefault(int(layer), []).append((r, states[i]))
    edits = []
    for layer in sorted(by_layer):
        mine = by_layer[layer]
        n = len(mine)
        edits.append((layer, torch.tensor([r for r, _ in mine], dtype=torch.long),
                      torch.tensor([int(cols[r]) for r, _ in mine], dtype=torch.long),
                      torch.stack([v.to(torch.float32) for _, v in mine]), torch.arange(n), torch.ones(n),
                      "replace", False))
    return edits


def patched_reads(
    model: "Handle",
    encoded: Sequence[Encoded],
    patches: Sequence[Patch],
    own_targets: Any,
    top_k: int = 1,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> tuple[Any, Any]:
    """Next-token readings of every patched row: (top-k ids `[R, k]`, log p of each row's own
    target ids `[R, m]` from `own_targets` `[R, m]`), in the order of `patches`."""
    import nnsight
    import torch

    if not patches:
        raise InputError("Nothing to patch.")
    top = model.num_layers
    from_end = []
    for p in patches:
        n = len(encoded[p.prompt])
        pos = p.position + n if p.position < 0 else p.position
        if not 0 <= pos < n:
            raise InputError(f"Patch position out of range for a prompt of {n} tokens.")
        if any(not 0 <= int(layer) <= top for layer in p.layers):
            raise InputError(f"Patched layers must lie in 0..{top} for this model.")
        from_end.append(n - pos)
    suffix = max(from_end)
    share = model.remote == "off" and all(len(encoded[p.prompt]) > suffix for p in patches)
    cost = suffix if share else max(len(encoded[p.prompt]) for p in patches)
    per_batch = max(1, min(MAX_ROWS, token_budget // max(cost, 1)))
    k = max(1, min(int(top_k), model.vocab))
    head_in, softcap, scale = model.readout.trace_args()
    chunk = max(1, (16 * 1024 * 1024) // max(model.vocab, 1))
    nn = model.nn
    ids_out: dict[int, Any] = {}
    own_out: dict[int, Any] = {}

    def run_batch(batch: Sequence[int]) -> None:
        rows = [patches[i] for i in batch]
        enc = [encoded[p.prompt] for p in rows]
        kwargs: dict[str, Any] = {}
        if share:
            inputs, kwargs["past_key_values"] = shared_prefix_inputs(model, enc, suffix)
            width = suffix
        else:
            inputs = model_inputs(model, [e.ids for e in enc])
            width = inputs["input_ids"].shape[1]
        cols = [width - from_end[i] for i in batch]
        edits = replace_edits([p.layers for p in rows], cols, [p.states for p in rows])
        own = own_targets[list(batch)]
        with model.trace(**inputs, **kwargs) as tracer:
            h = edit_layers(nn, edits, [top], False)[0]
            got = nnsight.save(lens_reduce(nn, h[:, -1], k, None, None, True, head_in, softcap, scale, chunk, own))
            tracer.stop()
        for j, i in enumerate(batch):
            ids_out[i], own_out[i] = got[0][j], got[4][j]

    done = 0
    with model.lock, torch.inference_mode():
        for start in range(0, len(patches), per_batch):
            batch = list(range(start, min(len(patches), start + per_batch)))
            run_halving(run_batch, batch, what="patching batch")
            done += len(batch)
            report(progress, done / len(patches), f"Patched forwards: {done}/{len(patches)}")
    order = range(len(patches))
    return torch.stack([ids_out[i] for i in order]), torch.stack([own_out[i] for i in order])
