"""Patchscope (Ghandeharioun et al. 2024): decode a hidden state by writing it into an identity
prompt and letting the model say what it stands for.

The identity prompt "cat -> cat; 1135 -> 1135; hello -> hello; ?" sets up "repeat the word";
a source state (layer l, some position of some text) replaces the state at "?" at a target layer
(the same layer unless one is chosen), and the model's next token there is the reading. Unlike
the logit lens this asks a causal question (what the rest of the network makes of the state)
and it costs one forward of the short prompt per cell: many cells run as rows of one batch, one
replace edit per row (`models.intrace.edit_layers`), and only the "?" position is read, through
the same reduction as the lens (`models.intrace.lens_reduce`: top-k, target log-probs, language
mix, per-cell targets), so a patchscope reading has the shape of a lens reading. Everything runs
through `handle.trace`, so it runs on NDIF too.

`continuations` reads several tokens greedily (the identity prompt often answers a multi-token
word), through the steering package's generation with the same replace edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from .errors import InputError
from .models.intrace import edit_layers, lens_reduce
from .oom import run_halving
from .patching import replace_edits
from .progress import Progress, report
from .steering.generation import decode_text, generate_ids
from .steering.intervention import Intervention
from .tokens import encode, model_inputs
from .trace import DEFAULT_TOKEN_BUDGET

if TYPE_CHECKING:
    from .models.handle import Handle

IDENTITY_PROMPT = "cat -> cat; 1135 -> 1135; hello -> hello; ?"


def target_layers(model: "Handle", source_layers: Sequence[int], target_layer: Optional[int]) -> list[int]:
    """The layer each cell is written at: its own layer, or one chosen `target_layer` (0..L)."""
    if target_layer is None:
        return [int(layer) for layer in source_layers]
    top = model.num_layers
    if not 0 <= int(target_layer) <= top:
        raise InputError(f"The patchscope's target layer must lie in 0..{top} for this model.")
    return [int(target_layer)] * len(source_layers)


def patchscope_cells(
    model: "Handle",
    states: Any,
    source_layers: Sequence[int],
    top_k: int = 5,
    target_ids: Any = None,
    mix: Any = None,
    own_targets: Any = None,
    target_layer: Optional[int] = None,
    prompt: str = IDENTITY_PROMPT,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> list[Any]:
    """The patchscope reading of each cell: `states` `[C, d]` taken at `source_layers[c]`.

    Returns `lens_reduce`'s fields over the C cells: top-k ids `[C, k]` and log-probs, target
    log-probs `[C, n_t]`, the mix `[C, M]` or None, own-target log-probs `[C, m]` or None
    (`own_targets` `[C, m]`).
    """
    import nnsight
    import torch

    cells = int(states.shape[0])
    if len(source_layers) != cells:
        raise InputError("Give one source layer per patched state.")
    writes = target_layers(model, source_layers, target_layer)
    enc = encode(model.tokenizer, [prompt])[0]
    last = len(enc) - 1
    per_batch = max(1, token_budget // max(len(enc), 1))
    k = max(1, min(int(top_k), model.vocab))
    tgt = target_ids if target_ids is not None else torch.zeros(0, dtype=torch.long)
    head_in, softcap, scale = model.readout.trace_args()
    chunk = max(1, (16 * 1024 * 1024) // max(model.vocab, 1))
    top = model.num_layers
    nn = model.nn
    parts: list[tuple[int, list[Any]]] = []

    def run_batch(batch: Sequence[int]) -> None:
        rows = list(batch)
        inputs = model_inputs(model, [enc.ids] * len(rows))
        edits = replace_edits([[writes[c]] for c in rows], [last] * len(rows), [states[c:c + 1] for c in rows])
        own = own_targets[rows] if own_targets is not None else None
        with model.trace(**inputs) as tracer:
            h = edit_layers(nn, edits, [top], False)[0]
            got = nnsight.save(lens_reduce(nn, h[:, last], k, tgt, mix, True, head_in, softcap, scale,
                                           chunk, own))
            tracer.stop()  # the model's own head need not run: the reduction read layer L
        parts.append((rows[0], list(got)))

    done = 0
    with model.lock, torch.inference_mode():
        for start in range(0, cells, per_batch):
            batch = list(range(start, min(cells, start + per_batch)))
            run_halving(run_batch, batch, what="patchscope batch")
            done += len(batch)
            report(progress, done / max(cells, 1), f"Patchscope: {done}/{cells} cells (one forward each)")
    parts.sort(key=lambda p: p[0])
    return [torch.cat([p[1][j] for p in parts]) if parts and parts[0][1][j] is not None else None
            for j in range(5)]


def continuations(
    model: "Handle",
    states: Any,
    source_layers: Sequence[int],
    tokens: int = 3,
    target_layer: Optional[int] = None,
    prompt: str = IDENTITY_PROMPT,
    progress: Optional[Progress] = None,
) -> list[str]:
    """Greedy continuations (`tokens` tokens, cut at the first ";" or newline) of the identity
    prompt with each state `[C, d]` written at "?": the patchscope's reading as text."""
    import torch

    if tokens < 1:
        raise InputError("Read at least one token.")
    writes = target_layers(model, source_layers, target_layer)
    out: list[str] = [""] * len(writes)
    groups = sorted(set(writes))
    for g, layer in enumerate(groups):
        rows = [c for c, w in enumerate(writes) if w == layer]
        iv = Intervention(layer=layer, vectors=states[rows].to(torch.float32), coefs=1.0,
                          positions="last", kind="replace")
        ids = generate_ids(model, [prompt] * len(rows), [iv], max_new_tokens=int(tokens), greedy=True,
                           share_prefix=True)
        for c, row in zip(rows, ids):
            text = decode_text(model, row, stop_at_newline=True)
            out[c] = text.split(";")[0].strip()
        report(progress, (g + 1) / len(groups), f"Patchscope continuations: layer {layer}")
    return out
