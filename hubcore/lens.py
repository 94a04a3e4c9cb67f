"""The logit lens: read an intermediate hidden state through the model's own output path.

The readout reproduces exactly what the model does after its last block: final norm, LM head
(with its bias), and any logit transformation the architecture applies (Gemma 2's final
soft-capping, Cohere's logit scale, Granite's logit divisor). So at the last layer the lens *is*
the model's next-token distribution; `models.readout.lens_self_check` verifies that on every
model at load time.

`lens_at` runs the lens inside the trace (`models.intrace.lens_reduce`): each layer's states at
the wanted positions are projected in position chunks and reduced to top-k, target log-probs
and language mixes right there, so a [layers x positions x vocab] tensor never exists and a
remote run ships only the reductions. `project` does the same on states captured earlier (local
weights only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .errors import InputError
from .models.intrace import lens_reduce, residual
from .oom import run_halving
from .progress import Progress, report
from .tokens import Encoded, model_inputs, plan_batches
from .trace import DEFAULT_TOKEN_BUDGET, PositionSpec, batch_index, check_layers, positions_for

if TYPE_CHECKING:
    from .models.handle import Handle

CHUNK_ELEMENTS = 16 * 1024 * 1024  # positions x vocab floats projected at once (64 MB in fp32)


@dataclass
class LensOutput:
    """Per layer and position: top-k token ids/log-probs and target-token log-probs.

    Positions of several texts are concatenated in input order; `sizes[i]` is text i's count.
    """

    layers: list[int]
    top_ids: Any  # long [n_layers, P, k]
    top_logprobs: Any  # float32 [n_layers, P, k]
    target_logprobs: Any  # float32 [n_layers, P, n_targets]
    mixed: Any = None  # float32 [n_layers, P, n_mix]: lens distribution @ mix, when requested
    sizes: Optional[list[int]] = None
    own: Any = None  # float32 [n_layers, P, m]: log p of each position's own target ids

    def split(self) -> list["LensOutput"]:
        """One LensOutput per text."""
        import torch

        sizes = self.sizes or [self.top_ids.shape[1]]
        parts = [torch.split(t, sizes, dim=1) if t is not None else [None] * len(sizes)
                 for t in (self.top_ids, self.top_logprobs, self.target_logprobs, self.mixed, self.own)]
        return [LensOutput(self.layers, *(p[i] for p in parts[:4]), sizes=[sizes[i]], own=parts[4][i])
                for i in range(len(sizes))]


def chunk_rows(model: "Handle") -> int:
    return max(1, CHUNK_ELEMENTS // max(model.vocab, 1))


def lens_at(
    model: "Handle",
    encoded: Sequence[Encoded],
    positions: PositionSpec = "last",
    layers: Optional[Sequence[int]] = None,
    top_k: int = 5,
    target_ids: Sequence[int] = (),
    mix: Optional[Any] = None,
    apply_norm: bool = True,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
    own_targets: Optional[Sequence[Sequence[Sequence[int]]]] = None,
) -> LensOutput:
    """The lens of `layers` at `positions` of pre-tokenised texts, reduced inside the trace.

    `target_ids`: token ids whose log-probs are kept at every cell. `mix` `[vocab, M]`
    aggregates the lens distribution into M quantities per cell (e.g. p(language | h)).
    `own_targets[i][j]`: m token ids read only at text i's j-th wanted position (the items lens:
    e.g. an English translation and the actual next token), returned in `.own`.
    """
    import nnsight
    import torch

    chosen = check_layers(model, layers)
    wanted = positions_for(positions, encoded)
    k = max(1, min(int(top_k), model.vocab))
    tgt = torch.tensor([int(t) for t in target_ids], dtype=torch.long)
    head_in, softcap, scale = model.readout.trace_args()
    chunk = chunk_rows(model)
    batches = plan_batches([len(e) for e in encoded], token_budget)
    per_text: list[Any] = [None] * len(encoded)
    nn = model.nn
    done = 0

    if own_targets is not None:
        if len(own_targets) != len(encoded) or any(len(o) != len(w) for o, w in zip(own_targets, wanted)):
            raise InputError("Give one list of target ids per wanted position of every text.")
        widths = {len(t) for o in own_targets for t in o}
        if len(widths) > 1:
            raise InputError("Every position needs the same number of own target ids.")

    def run_batch(batch: Sequence[int]) -> None:
        inputs = model_inputs(model, [encoded[i].ids for i in batch])
        rows, cols = batch_index(encoded, batch, wanted, inputs["input_ids"].shape[1])
        own = None
        if own_targets is not None:
            own = torch.tensor([list(t) for i in batch for t in own_targets[i]], dtype=torch.long)
        with model.trace(**inputs) as tracer:
            reduced = []
            for layer in chosen:  # module access must follow execution order
                h = residual(nn, layer)
                picked = h[rows.to(h.device), cols.to(h.device)]
                reduced.append(lens_reduce(nn, picked, k, tgt, mix, apply_norm, head_in, softcap,
                                           scale, chunk, own))
            saved = nnsight.save(reduced)
            tracer.stop()  # the forward need not go past the deepest layer read
        fields = [torch.stack([r[j] for r in saved]) if saved[0][j] is not None else None
                  for j in range(5)]  # each [n_layers, P_batch, ...]
        start = 0
        for i in batch:
            n = len(wanted[i])
            per_text[i] = [f[:, start:start + n] if f is not None else None for f in fields]
            start += n

    with model.lock, torch.inference_mode():
        for batch in batches:
            run_halving(run_batch, batch, what="lens batch")
            done += len(batch)
            report(progress, done / len(encoded), f"Lens: {done}/{len(encoded)} texts")
    cat = [torch.cat([p[j] for p in per_text], dim=1) if per_text[0][j] is not None else None
           for j in range(5)]
    return LensOutput(layers=chosen, top_ids=cat[0], top_logprobs=cat[1], target_logprobs=cat[2],
                      mixed=cat[3], sizes=[len(w) for w in wanted], own=cat[4])


def project(
    model: "Handle",
    states: Any,
    top_k: int = 5,
    target_ids: Sequence[int] = (),
    apply_norm: bool = True,
    layers: Optional[Sequence[int]] = None,
    progress: Optional[Progress] = None,
    mix: Optional[Any] = None,
) -> LensOutput:
    """Run the lens over states captured earlier, `[P, n_layers, d]` (local weights only).

    The same reduction as `lens_at`, applied outside a trace (the envoys then call the modules
    directly); memory stays at one chunk of `[positions x vocab]` logits.
    """
    import torch

    model.require_weights("Projecting captured states")
    n_pos, n_layers, _ = states.shape
    layers = list(layers) if layers is not None else list(range(n_layers))
    k = max(1, min(int(top_k), model.vocab))
    tgt = torch.tensor([int(t) for t in target_ids], dtype=torch.long)
    head_in, softcap, scale = model.readout.trace_args()
    out: list[list[Any]] = []
    with model.lock, torch.inference_mode():
        for li in range(n_layers):
            out.append(lens_reduce(model.nn, states[:, li], k, tgt, mix, apply_norm, head_in, softcap,
                                   scale, chunk_rows(model)))
            report(progress, (li + 1) / n_layers, f"Lens: layer {layers[li]}")
    fields = [torch.stack([r[j] for r in out]).clone() if out[0][j] is not None else None for j in range(4)]
    return LensOutput(layers=layers, top_ids=fields[0], top_logprobs=fields[1],
                      target_logprobs=fields[2], mixed=fields[3], sizes=[n_pos])


def word_variants(tokenizer: Any, word: str) -> list[tuple[str, int]]:
    """First token of the word with and without a leading space: [(variant, token_id)].

    After a space the model predicts " day", after "一" it predicts "day" or "天": both surface
    forms are read and the caller reports which one won.
    """
    out: list[tuple[str, int]] = []
    seen: set[int] = set()
    stripped = word.strip()
    for variant, text in (("space", " " + stripped), ("no-space", stripped)):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if ids and ids[0] not in seen:
            seen.add(ids[0])
            out.append((variant, int(ids[0])))
    return out
