"""Resume from layer: a layer x coefficient grid of next-token interventions without re-running
the blocks before the edit.

An intervention at layer l (our convention: the output of block l, 0 = embedding output) cannot
change anything computed before it. So for a grid of layers x coefficients, the residual stream
of every prompt is captured ONCE at every grid layer (all positions, one nnsight trace that stops
after the deepest layer needed); then, per layer, all coefficients run as rows of one batch in
which blocks 1..l are skipped (nnsight's `skip`: the skipped blocks return the cached, edited
state) and only blocks l+1..L, the final norm and the LM head (last position only) run.
The embedding lookup still runs (its output is discarded), as do the model's rotary/mask set-up,
so positions, attention masks and left padding are exactly those of a full forward.

`full_forward_grid` is the plain path (one `steering.forward_with` batch per layer, every block
run) that tests and `bench/resume.py` compare against. A remote run uses the all-positions grid
(its captured states travel to the server and back); the last-token shortcut needs a local
prefix cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Sequence

from ..errors import InputError
from ..models.intrace import residual, skip_blocks
from ..oom import run_halving
from ..progress import Progress, report
from ..tokens import encode, model_inputs
from .intervention import Intervention, PositionsArg, accepts, per_row_positions, positions_list, resolve

if TYPE_CHECKING:
    import torch

    from ..models.handle import Handle as HubModel

Reduce = Callable[["torch.Tensor"], "torch.Tensor"]  # last-position logits [N, V] -> [N, ...]


def _check_grid(model: "HubModel", prompts: Sequence[str], vectors: Any, layers: Sequence[int],
                coefs: Sequence[float], positions: PositionsArg) -> tuple[list[int], list[float], Any]:
    import torch

    if not prompts:
        raise InputError("No prompts.")
    layers = [int(l) for l in layers]
    coefs = [float(c) for c in coefs]
    if not layers or not coefs:
        raise InputError("Give at least one layer and one coefficient.")
    top = model.num_layers
    if any(not 0 <= l <= top for l in layers):
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    vec = torch.as_tensor(vectors).detach().to(torch.float32)
    if vec.dim() == 1:
        vec = vec.unsqueeze(0).expand(len(prompts), -1)
    if vec.dim() != 2 or vec.shape[0] != len(prompts) or vec.shape[1] != model.hidden_size:
        raise InputError(
            f"Give one steering vector [{model.hidden_size}] or one per prompt "
            f"[{len(prompts)}, {model.hidden_size}], not {tuple(vec.shape)}."
        )
    pos = positions_list(positions)
    if per_row_positions(pos) and len(pos) != len(prompts):
        raise InputError(f"Give one list of positions per prompt ({len(prompts)}).")
    return layers, coefs, vec


def _grid_intervention(layer: int, vec: Any, coefs: Sequence[float], n: int, positions: PositionsArg,
                       kind: str, norm_preserving: bool) -> Intervention:
    """One intervention over rows ordered coefficient-major: row = c * n + prompt."""
    pos = positions_list(positions)
    if per_row_positions(pos):
        pos = [list(pos[i]) for _ in coefs for i in range(n)]
    return Intervention(
        layer=layer,
        vectors=vec.repeat(len(coefs), 1),
        coefs=[c for c in coefs for _ in range(n)],
        positions=pos,
        kind=kind,  # type: ignore[arg-type]
        norm_preserving=norm_preserving,
    )


def _coef_chunks(n_coefs: int, rows_per_coef: int, width: int, token_budget: int) -> list[list[int]]:
    """Coefficient indices grouped so rows x padded width stays within `token_budget`."""
    per = max(1, token_budget // max(1, rows_per_coef * width))
    return [list(range(i, min(i + per, n_coefs))) for i in range(0, n_coefs, per)]


def resume_grid(
    model: "HubModel",
    prompts: Sequence[str],
    vectors: Any,
    layers: Sequence[int],
    coefs: Sequence[float],
    positions: PositionsArg = "last",
    kind: Literal["add", "replace"] = "add",
    norm_preserving: bool = False,
    reduce: Optional[Reduce] = None,
    token_budget: int = 16384,
    progress: Optional[Progress] = None,
) -> "torch.Tensor":
    """`reduce(logits)` at each prompt's last token for every (layer, coef): `[nL, nC, B, ...]`.

    The edit is `steering.Intervention(layer, vectors, coef, positions, kind, norm_preserving)`,
    exactly as `steering.forward_with` applies it; results equal that path's within float noise.
    `reduce` maps float32 `[N, V]` logits to something smaller (default: keep the logits).
    With `positions="last"` only the last token is re-run per coefficient (see `_last_token_grid`);
    other positions re-run every position from layer l on. Float32 CPU output.
    """
    import torch

    layers, coefs, vec = _check_grid(model, prompts, vectors, layers, coefs, positions)
    reduce = reduce or (lambda x: x)
    encoded = encode(model.tokenizer, prompts)
    last = (isinstance(positions, str) and positions == "last" and all(len(e) >= 2 for e in encoded)
            and model.remote == "off")
    grid = _last_token_grid if last else _all_positions_grid
    out: dict[tuple[int, int], Any] = {}
    with model.lock, torch.inference_mode():
        cells = grid(model, encoded, vec, layers, coefs, positions, kind, norm_preserving, reduce,
                     token_budget, progress)
        for key, value in cells:
            out[key] = value
    return torch.stack([torch.stack([out[(li, c)] for c in range(len(coefs))])
                        for li in range(len(layers))]).clone()


def _save_layers(model: "HubModel", inputs: dict[str, Any], layers: Sequence[int],
                 last_only: bool) -> dict[int, Any]:
    """The residual stream at `layers` (all positions or the last), one trace that stops early."""
    import nnsight

    nn = model.nn
    wanted = sorted(set(layers))
    with model.trace(**inputs) as tracer:
        picked = []
        for layer in wanted:
            h = residual(nn, layer)
            picked.append(h[:, -1:] if last_only else h)
        saved = nnsight.save(picked)
        tracer.stop()  # no block after the deepest grid layer, no LM head
    return dict(zip(wanted, saved))


def _resumed_logits(model: "HubModel", inputs: dict[str, Any], layer: int, edited: Any,
                    extra: dict[str, Any]) -> Any:
    """One trace: blocks 1..`layer` skipped (they return `edited`), the rest and the head run."""
    import nnsight

    nn = model.nn
    if accepts(model, "logits_to_keep"):
        extra = dict(extra, logits_to_keep=1)
    tuple_out = block_returns_tuple(model)
    with model.trace(**inputs, **extra):
        skip_blocks(nn, layer, edited, tuple_out)
        logits = nnsight.save(nn.output.logits[:, -1])
    return logits


def block_returns_tuple(model: "HubModel") -> bool:
    """Whether this model's decoder blocks return a tuple (BLOOM) rather than a tensor; a
    skipped block must return the same shape. Measured once per handle with a one-token trace."""
    import nnsight

    if "tuple_blocks" not in model.parts:
        nn = model.nn
        first = [int(model.tokenizer.pad_token_id)]
        with model.trace(**model_inputs(model, [first])) as tracer:
            flag = nnsight.save(isinstance(nn.layers[0].output, tuple))
            tracer.stop()
        model.parts["tuple_blocks"] = bool(flag)
    return bool(model.parts["tuple_blocks"])


def _cells(layers: Sequence[int], coefs: Sequence[float], rows_per_coef: int, width: int,
           token_budget: int, run: Callable[[int, Sequence[int]], Any], progress: Optional[Progress]):
    """Yield ((layer index, coef index), result) for every grid cell; OOM halves a chunk."""
    done, total = 0, len(layers) * len(coefs)
    for li, layer in enumerate(layers):
        for chunk in _coef_chunks(len(coefs), rows_per_coef, width, token_budget):
            for sub, got in run_halving(lambda c, li=li: run(li, c), chunk, what="grid batch"):
                for k, c in enumerate(sub):
                    yield (li, c), got[k]
            done += len(chunk)
            report(progress, done / total, f"Layer {layer}: {done}/{total} grid cells")


def _all_positions_grid(model, encoded, vec, layers, coefs, positions, kind, norm_preserving, reduce,
                        token_budget, progress):
    """Every position from layer l on: blocks 1..l skipped, the cached state edited."""
    import torch

    n = len(encoded)
    inputs = model_inputs(model, [e.ids for e in encoded])
    width = inputs["input_ids"].shape[1]
    lengths = [len(e) for e in encoded]
    states = _save_layers(model, inputs, layers, last_only=False)

    def run(li: int, chunk: Sequence[int]) -> Any:
        layer = layers[li]
        iv = _grid_intervention(layer, vec, [coefs[c] for c in chunk], n, positions, kind, norm_preserving)
        r = resolve(iv, lengths * len(chunk), width, model)
        edited = r.apply(states[layer].repeat(len(chunk), 1, 1))
        batch = {k: v.repeat(len(chunk), 1) for k, v in inputs.items()}
        logits = _resumed_logits(model, batch, layer, edited, {"use_cache": False})
        got = reduce(logits.to(torch.float32)).cpu()
        return got.reshape(len(chunk), n, *got.shape[1:])

    yield from _cells(layers, coefs, n, width, token_budget, run, progress)


def _last_token_grid(model, encoded, vec, layers, coefs, positions, kind, norm_preserving, reduce,
                     token_budget, progress):
    """Edits at the last prompt token only: everything before it is the same in every cell.

    The prompts minus their last token run once (KV cache kept); the last token's state is
    captured once at every grid layer. Per cell only the last token runs, through blocks
    l+1..L (attending to the cached prefix), plus the final norm and the head. Skipped blocks
    add no key/value for the last token, which no later block reads.
    """
    import copy

    import torch

    from ..tokens import pad_left

    n = len(encoded)
    hf = model.hf
    device = model.device
    states = _save_layers(model, model_inputs(model, [e.ids for e in encoded]), layers, last_only=True)
    prefix = pad_left([e.ids[:-1] for e in encoded], model.tokenizer.pad_token_id, device)
    prefix_pos = prefix.pop("position_ids")
    kwargs: dict[str, Any] = {"use_cache": True}
    if model.accepts_position_ids:
        kwargs["position_ids"] = prefix_pos
    base = getattr(hf, "base_model", None)
    if base is None or base is hf:
        base = hf
        if accepts(model, "logits_to_keep"):
            kwargs["logits_to_keep"] = 1
    cache = base(**prefix, **kwargs).past_key_values
    last_ids = torch.tensor([e.ids[-1] for e in encoded], dtype=torch.long, device=device)[:, None]

    def run(li: int, chunk: Sequence[int]) -> Any:
        layer = layers[li]
        rows = torch.arange(n, device=device).repeat(len(chunk))
        cells_cache = copy.deepcopy(cache)
        cells_cache.batch_select_indices(rows)  # one copy of its prompt's prefix per row
        mask = prefix["attention_mask"][rows]
        inputs: dict[str, Any] = {
            "input_ids": last_ids[rows],
            "attention_mask": torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1),
        }
        if model.accepts_position_ids:
            inputs["position_ids"] = prefix_pos[rows][:, -1:] + 1
        iv = _grid_intervention(layer, vec, [coefs[c] for c in chunk], n, "last", kind, norm_preserving)
        r = resolve(iv, [1] * len(rows), 1, model)
        edited = r.apply(states[layer].repeat(len(chunk), 1, 1))
        logits = _resumed_logits(model, inputs, layer, edited,
                                 {"use_cache": True, "past_key_values": cells_cache})
        got = reduce(logits.to(torch.float32)).cpu()
        return got.reshape(len(chunk), n, *got.shape[1:])

    width = max(len(e) for e in encoded)
    yield from _cells(layers, coefs, n, width, token_budget, run, progress)


def full_forward_grid(
    model: "HubModel",
    prompts: Sequence[str],
    vectors: Any,
    layers: Sequence[int],
    coefs: Sequence[float],
    positions: PositionsArg = "last",
    kind: Literal["add", "replace"] = "add",
    norm_preserving: bool = False,
    reduce: Optional[Reduce] = None,
    per_cell: bool = False,
) -> "torch.Tensor":
    """The same grid by full forwards (`steering.forward_with`): one batch of every coefficient
    per layer, or with `per_cell` one forward per (layer, coefficient). The reference path."""
    import torch

    from .intervention import forward_with

    layers, coefs, vec = _check_grid(model, prompts, vectors, layers, coefs, positions)
    reduce = reduce or (lambda x: x)
    n = len(prompts)
    grid = []
    for layer in layers:
        if per_cell:
            cells = [reduce(forward_with(model, prompts, [_grid_intervention(
                layer, vec, [c], n, positions, kind, norm_preserving)])) for c in coefs]
            grid.append(torch.stack(cells))
        else:
            iv = _grid_intervention(layer, vec, coefs, n, positions, kind, norm_preserving)
            got = reduce(forward_with(model, list(prompts) * len(coefs), [iv]))
            grid.append(got.reshape(len(coefs), n, *got.shape[1:]))
    return torch.stack(grid)


def target_logprobs(target_ids: Sequence[int]) -> Reduce:
    """A `reduce` keeping only log p of `target_ids` at the last position: `[N, K]`."""
    import torch

    ids = [int(i) for i in target_ids]
    if not ids:
        raise InputError("Give at least one target token.")

    def reduce(logits: "torch.Tensor") -> "torch.Tensor":
        return torch.log_softmax(logits, dim=-1)[:, ids]

    return reduce


def grid_logits(
    model: "HubModel",
    prompts: Sequence[str],
    vectors: Any,
    layers: Sequence[int],
    coefs: Sequence[float],
    positions: PositionsArg = "last",
    **kwargs: Any,
) -> "torch.Tensor":
    """Next-token logits `[len(layers), len(coefs), B, V]` under each (layer, coef) edit.

    Memory grows with the vocabulary: for large grids use `grid_target_logprobs`.
    """
    return resume_grid(model, prompts, vectors, layers, coefs, positions, **kwargs)


def grid_target_logprobs(
    model: "HubModel",
    prompts: Sequence[str],
    vectors: Any,
    layers: Sequence[int],
    coefs: Sequence[float],
    target_ids: Sequence[int],
    positions: PositionsArg = "last",
    **kwargs: Any,
) -> "torch.Tensor":
    """Next-token log p of `target_ids`: `[len(layers), len(coefs), B, K]`."""
    return resume_grid(model, prompts, vectors, layers, coefs, positions,
                       reduce=target_logprobs(target_ids), **kwargs)
