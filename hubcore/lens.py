"""The logit lens: read an intermediate hidden state through the model's own output path.

The readout reproduces exactly what the model does after its last block: final norm, LM head
(with its bias), and any logit transformation the architecture applies (Gemma 2's final
soft-capping, Cohere's logit scale, Granite's logit divisor). So at the last layer the lens *is*
the model's next-token distribution; `models.readout.lens_self_check` verifies that on every
model at load time.

`lens_at` runs the lens inside the trace (`models.intrace.lens_reduce`): each layer's states at
the wanted positions are projected in position chunks (locally: in vocabulary blocks over all
positions, `lens_reduce_blocked`, each block reduced while in cache) and reduced to top-k,
target log-probs and language mixes right there, so a [layers x positions x vocab] tensor never
exists and a remote run ships only the reductions. `project` does the same on states captured earlier (local
weights only).

Three lenses read the same cells into the same `LensOutput` (`lens=`): "logit" (the default,
above), "tuned" (each layer's state first goes through its trained affine translator,
`tuned_lens`; the last layer reads as the logit lens) and "patchscope" (each state is written
into an identity prompt and the model's next token there is the reading, `patchscope`; one
forward per cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from .errors import InputError
from .models.intrace import lens_kl, lens_reduce, lens_reduce_blocked, residual, translate
from .oom import run_halving
from .patchscope import patchscope_cells
from .progress import Progress, report, scaled
from .tokens import Encoded, model_inputs, plan_batches
from .trace import (DEFAULT_TOKEN_BUDGET, PositionSpec, batch_index, capture_encoded, check_layers,
                    positions_for)
from .tuned_lens import translator_pairs

if TYPE_CHECKING:
    from .models.handle import Handle

CHUNK_ELEMENTS = 16 * 1024 * 1024  # positions x vocab floats projected at once (64 MB in fp32)
# positions x vocab floats per head block of a local lens (`intrace.lens_reduce_blocked`): every
# GEMM then has all positions as rows (64-row chunks ran the 671 MB head at half the GEMM rate),
# the same 64 MB bound as CHUNK_ELEMENTS, and few blocks (cache-sized 4 MB blocks lost more to
# per-op overhead than they saved on this 2-core machine; bench/lens.py). 0: row chunks.
VOCAB_BLOCK = CHUNK_ELEMENTS
# positions x vocab x layers one trace projects before it is split into layer groups: a long
# text's lens (a 500-token text is ~2.4e9 on Gemma-3) then reports progress, and can be stopped,
# between groups; each group's trace repeats the forward only up to its deepest layer
SPLIT_ELEMENTS = 256 * 1024 * 1024
LENSES = ("logit", "tuned", "patchscope")
LENS_HELP = ("logit (the model's own output head), tuned (trained per-layer translators first: "
             "`tune-lens`), or patchscope (the state written into an identity prompt; one forward "
             "per cell)")


def check_lens(lens: str, apply_norm: bool = True) -> str:
    """`lens` if it is one of `LENSES` (and fits `apply_norm`); one sentence otherwise."""
    if lens not in LENSES:
        raise InputError(f"Unknown lens '{lens}': choose one of {', '.join(LENSES)}.")
    if lens != "logit" and not apply_norm:
        raise InputError("Raw readings (no final norm) exist for the logit lens only: the tuned lens "
                         "and patchscope always read through the final norm.")
    return lens


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


def vocab_block(model: "Handle", rows: int) -> int:
    """Head rows per block for `lens_reduce_blocked` on `rows` states, or 0 for the row-chunked
    `lens_reduce`. Blocking needs a plain linear head; it runs the same way locally and remotely,
    so a remote reading equals the local one exactly (the reductions' float order is the same)."""
    import torch

    if not VOCAB_BLOCK or type(model.readout.head) is not torch.nn.Linear:
        return 0
    return max(128, min(model.vocab, VOCAB_BLOCK // max(rows, 1)))


def layer_groups(layers: Sequence[int], positions: int, vocab: int) -> list[list[int]]:
    """`layers` in consecutive groups of at most `SPLIT_ELEMENTS` projected logits each."""
    size = max(1, SPLIT_ELEMENTS // max(positions * vocab, 1))
    layers = list(layers)
    return [layers[i:i + size] for i in range(0, len(layers), size)]


def readout_roles(model: "Handle") -> Any:
    """The readout's local modules under the role names the `intrace` reductions use
    (`ln_final`, `lm_head`, `head_in`): the same functions then run outside a trace."""
    from types import SimpleNamespace

    r = model.readout
    return SimpleNamespace(ln_final=r.norm, lm_head=r.head, head_in=r.head_in)


def picked_states(model: "Handle", inputs: dict, layers: Sequence[int], rows: Any, cols: Any) -> dict[int, Any]:
    """The residual states at (`rows`, `cols`) of every layer in `layers`, from ONE forward that
    stops after the deepest (local runs: states are small, the readout's products are not; a
    remote run reduces inside its trace instead, so only readings travel)."""
    import nnsight

    with model.trace(**inputs) as tracer:
        got = []
        for layer in layers:  # module access must follow execution order
            h = residual(model.nn, layer)
            got.append(h[rows.to(h.device), cols.to(h.device)])
        saved = nnsight.save(got)
        tracer.stop()
    return dict(zip(layers, saved))


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
    lens: str = "logit",
    patchscope_layer: Optional[int] = None,
) -> LensOutput:
    """The lens of `layers` at `positions` of pre-tokenised texts, reduced inside the trace.

    `target_ids`: token ids whose log-probs are kept at every cell. `mix` `[vocab, M]`
    aggregates the lens distribution into M quantities per cell (e.g. p(language | h)).
    `own_targets[i][j]`: m token ids read only at text i's j-th wanted position (the items lens:
    e.g. an English translation and the actual next token), returned in `.own`.
    `lens`: one of `LENSES`; `patchscope_layer`: where the patchscope writes each state (None:
    the state's own layer).
    """
    import nnsight
    import torch

    check_lens(lens, apply_norm)
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
    if lens == "patchscope":
        return patchscope_lens(model, encoded, wanted, chosen, k, tgt, mix, own_targets, patchscope_layer,
                               token_budget, progress)
    pairs = dict(zip(chosen, translator_pairs(model, chosen) if lens == "tuned" else [None] * len(chosen)))

    def reduce_one(head: Any, picked: Any, pair: Any, block: int, own: Any) -> list[Any]:
        """One layer's reading of its saved states, locally: what the remote trace body below does
        inline (a trace body may call only `intrace` functions, which travel by value)."""
        if pair is not None:  # the tuned lens: this layer's translator first
            picked = translate(picked, pair[0], pair[1])
        if block:
            return lens_reduce_blocked(head, picked, k, tgt, mix, apply_norm, head_in, softcap, scale, block, own)
        return lens_reduce(head, picked, k, tgt, mix, apply_norm, head_in, softcap, scale, chunk, own)

    def run_batch(batch: Sequence[int]) -> None:
        inputs = model_inputs(model, [encoded[i].ids for i in batch])
        rows, cols = batch_index(encoded, batch, wanted, inputs["input_ids"].shape[1])
        own = None
        if own_targets is not None:
            own = torch.tensor([list(t) for i in batch for t in own_targets[i]], dtype=torch.long)
        block = vocab_block(model, len(rows))
        saved: list[Any] = []
        groups = layer_groups(chosen, len(rows), model.vocab)
        states = picked_states(model, inputs, chosen, rows, cols) if model.remote == "off" else None
        roles = readout_roles(model) if states is not None else None
        for g, group in enumerate(groups):
            if states is not None:  # local: the readout reduces the saved states, no forward again
                part = [reduce_one(roles, states[layer], pairs[layer], block, own) for layer in group]
            else:
                with model.trace(**inputs) as tracer:  # remote: only `intrace` functions inside
                    reduced = []
                    for layer in group:  # module access must follow execution order
                        h = residual(nn, layer)
                        picked = h[rows.to(h.device), cols.to(h.device)]
                        pair = pairs[layer]
                        if pair is not None:  # the tuned lens: this layer's translator first
                            picked = translate(picked, pair[0], pair[1])
                        if block:
                            reduced.append(lens_reduce_blocked(nn, picked, k, tgt, mix, apply_norm, head_in,
                                                               softcap, scale, block, own))
                        else:
                            reduced.append(lens_reduce(nn, picked, k, tgt, mix, apply_norm, head_in, softcap,
                                                       scale, chunk, own))
                    part = nnsight.save(reduced)
                    tracer.stop()  # the forward need not go past the deepest layer read
            saved.extend(part)
            if len(groups) > 1:
                report(progress, (done + len(batch) * (g + 1) / len(groups)) / len(encoded),
                       f"Lens: layers {group[0]}–{group[-1]} of {chosen[-1]}"
                       + (f", text {done + 1}/{len(encoded)}" if len(encoded) > 1 else ""))
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


def patchscope_lens(model: "Handle", encoded: Sequence[Encoded], wanted: list[list[int]], chosen: list[int],
                    k: int, tgt: Any, mix: Any, own_targets: Any, target_layer: Optional[int],
                    token_budget: int, progress: Optional[Progress]) -> LensOutput:
    """`lens_at` through the patchscope: capture the wanted states, then read every (layer,
    position) cell by writing it into the identity prompt (`patchscope.patchscope_cells`)."""
    import torch

    cap = capture_encoded(model, encoded, positions=wanted, layers=chosen, token_budget=token_budget,
                          progress=scaled(progress, 0.0, 0.15))
    states = torch.cat(cap.states)  # [P, n_layers, d]
    n_pos, n_layers, d = states.shape
    cells = states.permute(1, 0, 2).reshape(n_layers * n_pos, d)  # layer-major, like LensOutput
    own = None
    if own_targets is not None:
        own = torch.tensor([list(t) for o in own_targets for t in o], dtype=torch.long).repeat(n_layers, 1)
    fields = patchscope_cells(model, cells, [layer for layer in chosen for _ in range(n_pos)], k, tgt, mix,
                              own, target_layer, token_budget=token_budget,
                              progress=scaled(progress, 0.15, 1.0))
    shaped = [f.reshape(n_layers, n_pos, *f.shape[1:]) if f is not None else None for f in fields]
    return LensOutput(layers=chosen, top_ids=shaped[0], top_logprobs=shaped[1], target_logprobs=shaped[2],
                      mixed=shaped[3], sizes=[len(w) for w in wanted], own=shaped[4])


def kl_to_final(
    model: "Handle",
    encoded: Sequence[Encoded],
    lens: str = "logit",
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> Any:
    """Mean KL(final || lens) in nats per text and layer, `[n_texts, L + 1]` float64.

    Every position but the first (BOS, whose reading says nothing about a lens) counts; the
    final distribution is the lens of layer L, i.e. the model's own. Computed inside the trace
    (`models.intrace.lens_kl`), exact over the whole vocabulary, in position chunks.
    """
    import nnsight
    import numpy as np
    import torch

    check_lens(lens)
    if lens == "patchscope":
        raise InputError("The patchscope reads what a state stands for, not the next token: its KL "
                         "to the model's next-token distribution measures nothing; compare logit "
                         "and tuned.")
    if any(len(e) < 2 for e in encoded):
        raise InputError("Every text needs at least one token after the first.")
    top = model.num_layers
    chosen = list(range(top + 1))
    pairs = translator_pairs(model, chosen) if lens == "tuned" else [None] * len(chosen)
    wanted = [list(range(1, len(e))) for e in encoded]
    head_in, softcap, scale = model.readout.trace_args()
    chunk = max(1, chunk_rows(model) // 2)
    out = np.zeros((len(encoded), len(chosen)))
    nn = model.nn
    done = 0

    def run_batch(batch: Sequence[int]) -> None:
        inputs = model_inputs(model, [encoded[i].ids for i in batch])
        rows, cols = batch_index(encoded, batch, wanted, inputs["input_ids"].shape[1])
        with model.trace(**inputs) as tracer:
            states = []
            for layer in chosen:  # module access must follow execution order
                h = residual(nn, layer)
                states.append(h[rows.to(h.device), cols.to(h.device)])
            kls = nnsight.save(lens_kl(nn, states, states[-1], pairs, head_in, softcap, scale, chunk))
            tracer.stop()
        per_pos = torch.stack(kls, dim=1).to(torch.float64)  # [P_batch, L + 1]
        start = 0
        for i in batch:
            n = len(wanted[i])
            out[i] = per_pos[start:start + n].mean(0).numpy()
            start += n

    with model.lock, torch.inference_mode():
        for batch in plan_batches([len(e) for e in encoded], token_budget):
            run_halving(run_batch, batch, what="lens-quality batch")
            done += len(batch)
            report(progress, done / len(encoded), f"KL to the final layer ({lens} lens): {done}/{len(encoded)} texts")
    return out


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
