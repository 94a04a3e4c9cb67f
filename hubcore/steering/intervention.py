"""Interventions on the residual stream: add or replace vectors at chosen layers and positions.

- `Intervention` says where (layer in our convention, prompt positions) and what (vector per row,
  coefficient per row, add or replace, optional norm preservation, per-position vectors).
- `resolve` turns it into tensors for one left-padded batch (a mask and a vector per position);
  the edit itself (`models.intrace.apply_edit`) runs inside the trace, so it runs on a server too.
- `forward_with` / `capture_with`: one trace over a batch with the edits, returning next-token
  logits or the (edited) hidden states.

Layer convention (as everywhere): 0 = embedding output (input of block 1), i = output of block i.
Positions are token indices of the UNPADDED prompt (the model's BOS counts as position 0).
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass, replace as dc_replace
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence, Union

from ..errors import InputError
from ..models.intrace import apply_edit, edit_layers
from ..tokens import Encoded, encode, model_inputs

if TYPE_CHECKING:
    import torch

    from ..models.handle import Handle

PositionsArg = Union[Literal["last"], Sequence[int], Sequence[Sequence[int]], None]


@dataclass
class Intervention:
    """An edit of the residual stream at one layer, applied in the prompt pass only.

    - `layer`: 0..L in our convention (0 = embedding output, i = output of block i).
    - `vectors`: `[d]` shared by every row, or `[B, d]` one per batch row.
    - `coefs`: a scalar, or one per row (sequence or 1-D tensor of length B).
    - `positions`: `"last"` (the last prompt token), token indices of the unpadded prompt shared
      by all rows (negative counts from the end), one index list per row, or `None` = every real
      (non-padding) prompt position.
    - `kind`: `"add"`: h <- h + coef * v.  `"replace"`: h <- coef * v (the state is overwritten,
      so coef 0 zeroes it; use a unit-scaled v and coef = wanted norm, or norm_preserving).
    - `norm_preserving`: after the edit, rescale each steered state to the L2 norm it had before
      (h' <- h' * ||h|| / ||h'||), so only its direction changes; helps where a few huge
      dimensions make plain addition either invisible or destructive.
    - `per_position`: `vectors` holds one vector per listed position, `[k, d]` shared by every
      row or `[B, k, d]`, and `positions` lists exactly k indices (shared by all rows). This is
      ActAdd: the steering pair's k per-token differences go onto the prompt's first k tokens.
    """

    layer: int
    vectors: Any
    coefs: Union[float, Sequence[float], Any] = 1.0
    positions: PositionsArg = "last"
    kind: Literal["add", "replace"] = "add"
    norm_preserving: bool = False
    per_position: bool = False

    def rows(self, index: Sequence[int]) -> "Intervention":
        """The same intervention restricted to batch rows `index` (per-row fields sliced)."""
        import torch

        vec = self.vectors
        if isinstance(vec, torch.Tensor) and vec.dim() == (3 if self.per_position else 2):
            vec = vec[list(index)]
        coefs = self.coefs
        if not is_scalar(coefs):
            coefs = [float(as_list(coefs)[i]) for i in index]
        pos = positions_list(self.positions)
        if per_row_positions(pos):
            pos = [list(pos[i]) for i in index]  # type: ignore[index]
        return dc_replace(self, vectors=vec, coefs=coefs, positions=pos)


def is_scalar(x: Any) -> bool:
    import torch

    if isinstance(x, torch.Tensor):
        return x.dim() == 0
    return isinstance(x, (int, float))


def as_list(x: Any) -> list[float]:
    import torch

    if isinstance(x, torch.Tensor):
        return [float(v) for v in x.reshape(-1).tolist()]
    return [float(v) for v in x]


def positions_list(pos: Any) -> Any:
    """Tensors/arrays of indices as plain (nested) lists; "last" and None unchanged."""
    return pos.tolist() if hasattr(pos, "tolist") and not isinstance(pos, str) else pos


def per_row_positions(pos: Any) -> bool:
    pos = positions_list(pos)
    return pos is not None and not isinstance(pos, str) and len(pos) > 0 and isinstance(pos[0], (list, tuple))


@dataclass
class Resolved:
    """An intervention as compact tensors for one padded batch, ready to ship to a trace:
    edit n sits at (`rows[n]`, `cols[n]`) and adds (or writes) `scale[n] * table[which[n]]`.
    Only distinct vectors travel (a sweep of 80 rows with one steering pair ships k vectors)."""

    layer: int
    rows: Any  # long [n]
    cols: Any  # long [n]
    table: Any  # float32 [U, d], distinct unscaled vectors
    which: Any  # long [n]
    scale: Any  # float32 [n]
    kind: str
    norm_preserving: bool

    def as_edit(self) -> tuple[Any, ...]:
        """The plain tuple `models.intrace.edit_layers` takes inside a trace."""
        return (self.layer, self.rows, self.cols, self.table, self.which, self.scale, self.kind,
                self.norm_preserving)

    def apply(self, h: Any) -> Any:
        """The edit applied to local states `h` `[B, T, d]` (resume-from-layer grids)."""
        return apply_edit(h, *self.as_edit()[1:])


def resolve(iv: Intervention, lengths: Sequence[int], width: int, model: "Handle") -> Resolved:
    """Check `iv` against a left-padded batch (`lengths` real tokens per row, `width` columns)."""
    import torch

    top, batch = model.num_layers, len(lengths)
    try:
        layer = operator.index(iv.layer)
    except TypeError:
        layer = -1
    if not 0 <= layer <= top:
        raise InputError(f"Intervention layer must lie in 0..{top} for this model, got {iv.layer}.")
    if iv.kind not in ("add", "replace"):
        raise InputError(f"Intervention kind must be 'add' or 'replace', got '{iv.kind}'.")
    d = model.hidden_size
    coefs = [float(iv.coefs)] * batch if is_scalar(iv.coefs) else as_list(iv.coefs)
    if len(coefs) != batch:
        raise InputError(f"Give one coefficient, or one per row ({batch}), not {len(coefs)}.")
    vec = torch.as_tensor(iv.vectors).detach().to(device="cpu", dtype=torch.float32)
    pos = positions_list(iv.positions)
    if iv.per_position:
        if vec.dim() == 2:
            vec = vec.unsqueeze(0).expand(batch, -1, -1)
        if isinstance(pos, str) or pos is None or per_row_positions(pos):
            raise InputError("Per-position vectors need one shared list of positions.")
        if vec.dim() != 3 or vec.shape[0] != batch or vec.shape[1] != len(pos) or vec.shape[2] != d:
            raise InputError(
                f"Per-position vectors must be [{len(pos)}, {d}] or [{batch}, {len(pos)}, {d}], "
                f"got {tuple(vec.shape)}."
            )
    else:
        if vec.dim() == 1:
            vec = vec.unsqueeze(0).expand(batch, -1)
        if vec.dim() != 2 or vec.shape[0] != batch or vec.shape[1] != d:
            raise InputError(
                f"Steering vectors must be [{d}] or [{batch}, {d}] for this batch, got {tuple(vec.shape)}."
            )
    if per_row_positions(pos) and len(pos) != batch:
        raise InputError(f"Give one list of positions per row ({batch}), not {len(pos)}.")
    rows: list[int] = []
    cols: list[int] = []
    picks: list[Any] = []  # the unscaled vector of each edit
    scale: list[float] = []
    for row, n in enumerate(lengths):
        pad = width - n
        if pos is None:
            idx_cols = list(range(pad, width))
        elif isinstance(pos, str):
            if pos != "last":
                raise InputError(f"Unknown positions '{pos}': use 'last', token indices or None.")
            idx_cols = [width - 1]
        else:
            idx = pos[row] if per_row_positions(pos) else pos
            if not idx:
                raise InputError("Give at least one intervention position (or None for all).")
            norm = [int(i) + n if int(i) < 0 else int(i) for i in idx]  # type: ignore[union-attr]
            if any(i < 0 or i >= n for i in norm):
                raise InputError(f"Intervention position out of range for a prompt of {n} tokens.")
            if iv.per_position and len(set(norm)) != len(norm):
                raise InputError("Per-position vectors need distinct positions.")
            idx_cols = [pad + i for i in norm]
        for j, col in enumerate(dict.fromkeys(idx_cols) if not iv.per_position else idx_cols):
            rows.append(row)
            cols.append(col)
            picks.append(vec[row, j] if iv.per_position else vec[row])
            scale.append(coefs[row])
    stacked = torch.stack(picks) if picks else torch.zeros(0, d)
    table, which = torch.unique(stacked, dim=0, return_inverse=True)
    return Resolved(layer=layer, rows=torch.tensor(rows, dtype=torch.long),
                    cols=torch.tensor(cols, dtype=torch.long), table=table, which=which.long(),
                    scale=torch.tensor(scale, dtype=torch.float32), kind=iv.kind,
                    norm_preserving=bool(iv.norm_preserving))


def accepts(model: "Handle", name: str) -> bool:
    """Whether the model's forward takes keyword `name` (e.g. logits_to_keep)."""
    return name in inspect.signature(model.hf.forward).parameters


def traced(
    model: "Handle",
    encoded: Sequence[Encoded],
    interventions: Sequence[Intervention],
    save_layers: Sequence[int] = (),
    logits: bool = True,
) -> dict[str, Any]:
    """Run ONE trace of the padded batch with `interventions`; caller holds lock/no-grad.

    Returns `inputs`, and as asked: `states` (list, one `[B, T, d]` per saved layer, after the
    edits of that layer) and `logits` (`[B, V]`, last column).
    """
    import nnsight

    inputs = model_inputs(model, [e.ids for e in encoded])
    lengths = [len(e) for e in encoded]
    width = inputs["input_ids"].shape[1]
    edits = [resolve(iv, lengths, width, model).as_edit() for iv in interventions]
    top = model.num_layers
    save = sorted(set(int(l) for l in save_layers))
    if any(l < 0 or l > top for l in save):
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    kwargs: dict[str, Any] = {"use_cache": False}
    if logits and accepts(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = 1  # the prompt pass needs only the last column of the head
    nn = model.nn
    with model.trace(**inputs, **kwargs) as tracer:
        states = edit_layers(nn, edits, save, False)
        if logits:
            got = nnsight.save([states, nn.output.logits[:, -1]])
        else:
            got = nnsight.save([states, None])
            tracer.stop()
    return {"inputs": inputs, "states": got[0], "logits": got[1]}


def forward_with(
    model: "Handle", prompts: Sequence[str], interventions: Sequence[Intervention] = ()
) -> "torch.Tensor":
    """Next-token logits `[B, V]` (float32, CPU) at each prompt's last token, with interventions.

    One trace over the left-padded batch (explicit position ids), so a row's result does not
    depend on the other rows beyond float noise.
    """
    import torch

    if not prompts:
        raise InputError("No prompts.")
    encoded = encode(model.tokenizer, prompts)
    with model.lock, torch.inference_mode():
        res = traced(model, encoded, interventions, logits=True)
        return res["logits"].to(torch.float32).cpu().clone()


def capture_with(
    model: "Handle",
    prompts: Sequence[str],
    interventions: Sequence[Intervention] = (),
    layers: Optional[Sequence[int]] = None,
) -> list["torch.Tensor"]:
    """Hidden states under interventions: per prompt float32 CPU `[T_i, n_layers, d]`, unpadded.

    The state of an intervened layer is read after the edit. Lets charts (and tests) show what
    the edit did to every position and every later layer.
    """
    import torch

    if not prompts:
        raise InputError("No prompts.")
    chosen = list(range(model.num_layers + 1)) if layers is None else sorted(set(int(l) for l in layers))
    encoded = encode(model.tokenizer, prompts)
    with model.lock, torch.inference_mode():
        res = traced(model, encoded, interventions, save_layers=chosen, logits=False)
        stacked = torch.stack([s.to(torch.float32).cpu() for s in res["states"]], dim=2)
    width = stacked.shape[1]
    return [stacked[i, width - len(e):].clone() for i, e in enumerate(encoded)]
