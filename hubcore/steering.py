"""Interventions on the residual stream: add or replace vectors at chosen layers and positions.

The paper's steering experiments (Section 5) add a vector built from hidden-state differences
(ActAdd: h("Good") - h("Bad")) or from unembedding differences (W_U["sí"] - W_U["no"]) to the
residual stream at one layer and watch the output change. This module does that for any model
`load_model` wraps:

- `Intervention` says where (layer in our convention, prompt positions) and what (vector per row,
  coefficient per row, add or replace, optional norm preservation).
- `forward_with` / `capture_with`: one nnsight trace over a left-padded batch.
- `generate`: the prompt pass is an nnsight trace with the interventions applied (and the KV
  cache kept); every later token is a plain transformers forward on that cache, so the steered
  prompt positions are edited exactly once and generated tokens are never edited, which is the
  usual ActAdd semantics (the edit reaches later tokens only through the cached keys/values).
  (nnsight 0.7's own `generate` also applies top-level edits to the first forward only; the
  explicit loop keeps position ids, stopping and sampling free of the model's generation-config
  defaults such as a hidden top-k.)
- `sweep_generate`: items x coefficients as rows of ONE batched generation, returned tidy.
  With edits at the last prompt position only, each item's prompt minus its last token runs
  once and its KV cache is copied to the item's rows (`generate_ids(share_prefix=True)`).

Layer convention (as everywhere): 0 = embedding output (input of block 1), i = output of block i.
Positions are token indices of the UNPADDED prompt (the model's BOS counts as position 0).
"""

from __future__ import annotations

import inspect
import operator
from dataclasses import dataclass, replace as dc_replace
from typing import TYPE_CHECKING, Any, Literal, Optional, Sequence, Union

from .errors import InputError
from .progress import Progress, report
from .tokens import Encoded, encode, pad_left

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from .models import HubModel

PositionsArg = Union[Literal["last"], Sequence[int], Sequence[Sequence[int]], None]
DEFAULT_SWEEP_TOKEN_BUDGET = 8192
NUCLEUS_CANDIDATES = 1024  # top-p sampling looks for the nucleus among this many tokens first  # rows x (prompt + new tokens) per batched generation


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
        if not _is_scalar(coefs):
            coefs = [float(_as_list(coefs)[i]) for i in index]
        pos = _positions_list(self.positions)
        if _per_row_positions(pos):
            pos = [list(pos[i]) for i in index]  # type: ignore[index]
        return dc_replace(self, vectors=vec, coefs=coefs, positions=pos)


# ---------------------------------------------------------------------------------------------
# Steering vectors


def hidden_difference(
    model: "HubModel",
    positive: Sequence[str],
    negative: Sequence[str],
    layer: int,
    position: Union[str, int] = "last",
) -> "torch.Tensor":
    """`h_layer(positive_i) - h_layer(negative_i)` at `position`: float32 CPU `[N, d]`.

    The ActAdd recipe (e.g. "Good" - "Bad"). `negative` may hold one text used for every
    positive. `position` is "last" or one token index (negative from the end) for every text.
    """
    from .trace import capture

    positive, negative = list(positive), list(negative)
    if not positive or not negative:
        raise InputError("Give at least one positive and one negative text.")
    if len(negative) == 1 and len(positive) > 1:
        negative = negative * len(positive)
    if len(negative) != len(positive):
        raise InputError("Give as many negative texts as positive ones (or a single one).")
    if isinstance(position, str):
        if position != "last":
            raise InputError("position must be 'last' or a token index.")
        spec_pos: Any = "last"
        spec_neg: Any = "last"
    else:
        spec_pos = [[int(position)]] * len(positive)
        spec_neg = [[int(position)]] * len(negative)
    pos = capture(model, positive, positions=spec_pos, layers=[layer]).stacked()[:, 0]
    neg = capture(model, negative, positions=spec_neg, layers=[layer]).stacked()[:, 0]
    return pos - neg


def actadd_vectors(model: "HubModel", positive: str, negative: str, layer: int) -> "torch.Tensor":
    """ActAdd's steering vectors: `h_layer(positive) - h_layer(negative)` at EVERY token, `[k, d]`.

    As in Turner et al. (and the paper's §4): both steering prompts are tokenised with the
    model's BOS, the shorter is right-padded with the token of a single space so both have k
    tokens, and the per-token differences are meant for the first k positions of the steered
    prompt (`Intervention(per_position=True, positions=range(k))`). The BOS row is exactly 0.
    """
    from .trace import capture_encoded

    pos_enc, neg_enc = encode(model.tokenizer, [positive, negative])
    if len(pos_enc) == 0 or len(neg_enc) == 0:
        raise InputError("Both steering texts must be non-empty.")
    space = model.tokenizer(" ", add_special_tokens=False)["input_ids"]
    filler = int(space[0]) if space else int(model.tokenizer.pad_token_id)
    k = max(len(pos_enc), len(neg_enc))
    padded = [
        Encoded(ids=list(e.ids) + [filler] * (k - len(e)), offsets=list(e.offsets) + [(0, 0)] * (k - len(e)))
        for e in (pos_enc, neg_enc)
    ]
    cap = capture_encoded(model, padded, positions="all", layers=[int(layer)])
    return (cap.states[0][:, 0] - cap.states[1][:, 0]).clone()


def first_token_id(model: "HubModel", text: str) -> int:
    """Id of the first token of `text` encoded without special tokens (" Paris" keeps its space)."""
    if not isinstance(text, str) or not text:
        raise InputError("Give a non-empty token string.")
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise InputError(f"'{text}' encodes to no token.")
    return int(ids[0])


def unembedding_difference(model: "HubModel", token_a: str, token_b: str) -> "torch.Tensor":
    """`W_U[a] - W_U[b]`: rows of the LM head weight for the first token of each string.

    Float32 CPU `[d]`. Adding it pushes the residual stream towards reading `a` rather than `b`
    (the paper's output-space steering). With tied embeddings (Gemma, GPT-2) the LM head weight
    IS the input embedding matrix, so this equals the embedding rows' difference (before any
    embedding scaling the model applies at the input, e.g. Gemma's sqrt(d)).
    """
    import torch

    head = model.hf.get_output_embeddings()
    if head is None or getattr(head, "weight", None) is None:
        raise InputError("This model has no LM head weight to take unembedding rows from.")
    a, b = first_token_id(model, token_a), first_token_id(model, token_b)
    with torch.inference_mode():
        w = head.weight
        diff = (w[a].to(torch.float32) - w[b].to(torch.float32)).cpu()
    return diff.clone()


# ---------------------------------------------------------------------------------------------
# Resolving an intervention against a padded batch


def _is_scalar(x: Any) -> bool:
    import torch

    if isinstance(x, torch.Tensor):
        return x.dim() == 0
    return isinstance(x, (int, float))


def _as_list(x: Any) -> list[float]:
    import torch

    if isinstance(x, torch.Tensor):
        return [float(v) for v in x.reshape(-1).tolist()]
    return [float(v) for v in x]


def _positions_list(pos: Any) -> Any:
    """Tensors/arrays of indices as plain (nested) lists; "last" and None unchanged."""
    return pos.tolist() if hasattr(pos, "tolist") and not isinstance(pos, str) else pos


def _per_row_positions(pos: Any) -> bool:
    pos = _positions_list(pos)
    return pos is not None and not isinstance(pos, str) and len(pos) > 0 and isinstance(pos[0], (list, tuple))


@dataclass
class _Resolved:
    """An intervention as tensors on the model's device: mask [B, T, 1], vector [B, 1, d] (one
    per row) or [B, T, d] (per position, zero where not steered)."""

    layer: int
    mask: Any
    vec: Any
    kind: str
    norm_preserving: bool


def _resolve(
    iv: Intervention, lengths: Sequence[int], width: int, model: "HubModel"
) -> _Resolved:
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
    param = next(model.hf.parameters())
    d = model.hidden_size
    coefs = [float(iv.coefs)] * batch if _is_scalar(iv.coefs) else _as_list(iv.coefs)
    if len(coefs) != batch:
        raise InputError(f"Give one coefficient, or one per row ({batch}), not {len(coefs)}.")
    scale = torch.tensor(coefs, device=param.device, dtype=torch.float32)
    vec = torch.as_tensor(iv.vectors).detach().to(device=param.device, dtype=torch.float32)
    pos = _positions_list(iv.positions)
    if iv.per_position:
        if vec.dim() == 2:
            vec = vec.unsqueeze(0).expand(batch, -1, -1)
        if isinstance(pos, str) or pos is None or _per_row_positions(pos):
            raise InputError("Per-position vectors need one shared list of positions.")
        if vec.dim() != 3 or vec.shape[0] != batch or vec.shape[1] != len(pos) or vec.shape[2] != d:
            raise InputError(
                f"Per-position vectors must be [{len(pos)}, {d}] or [{batch}, {len(pos)}, {d}], "
                f"got {tuple(vec.shape)}."
            )
        vec = vec * scale[:, None, None]
    else:
        if vec.dim() == 1:
            vec = vec.unsqueeze(0).expand(batch, -1)
        if vec.dim() != 2 or vec.shape[0] != batch or vec.shape[1] != d:
            raise InputError(
                f"Steering vectors must be [{d}] or [{batch}, {d}] for this batch, got {tuple(vec.shape)}."
            )
        vec = (vec * scale[:, None]).unsqueeze(1)

    mask = torch.zeros(batch, width, dtype=torch.bool)
    full = torch.zeros(batch, width, d, device=param.device) if iv.per_position else None
    if _per_row_positions(pos) and len(pos) != batch:
        raise InputError(f"Give one list of positions per row ({batch}), not {len(pos)}.")
    for row, n in enumerate(lengths):
        pad = width - n
        if pos is None:
            cols = range(pad, width)
        elif isinstance(pos, str):
            if pos != "last":
                raise InputError(f"Unknown positions '{pos}': use 'last', token indices or None.")
            cols = [width - 1]
        else:
            idx = pos[row] if _per_row_positions(pos) else pos
            if not idx:
                raise InputError("Give at least one intervention position (or None for all).")
            norm = [int(i) + n if int(i) < 0 else int(i) for i in idx]  # type: ignore[union-attr]
            if any(i < 0 or i >= n for i in norm):
                raise InputError(f"Intervention position out of range for a prompt of {n} tokens.")
            if full is not None and len(set(norm)) != len(norm):
                raise InputError("Per-position vectors need distinct positions.")
            cols = [pad + i for i in norm]
        mask[row, list(cols)] = True
        if full is not None:
            full[row, list(cols)] = vec[row]
    if full is not None:
        vec = full
    return _Resolved(
        layer=layer,
        mask=mask.to(param.device).unsqueeze(-1),
        vec=vec,
        kind=iv.kind,
        norm_preserving=bool(iv.norm_preserving),
    )


def _apply(h: Any, r: _Resolved) -> Any:
    """A new tensor: `h` with the intervention applied at the masked positions (never in place)."""
    import torch

    hf = h.to(torch.float32)
    vec, mask = r.vec.to(h.device), r.mask.to(h.device)  # layers may sit on other GPUs
    new = hf + vec if r.kind == "add" else vec.expand_as(hf)
    if r.norm_preserving:
        old_norm = hf.norm(dim=-1, keepdim=True)
        new_norm = new.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        new = new * (old_norm / new_norm)
    return torch.where(mask, new, hf).to(h.dtype)


# ---------------------------------------------------------------------------------------------
# One traced forward with interventions


def _inputs(model: "HubModel", encoded: Sequence[Encoded]) -> dict[str, Any]:
    inputs = pad_left([e.ids for e in encoded], model.tokenizer.pad_token_id, model.device)
    if not model.accepts_position_ids:
        inputs.pop("position_ids")
    return inputs


def _accepts(model: "HubModel", name: str) -> bool:
    return name in inspect.signature(model.hf.forward).parameters


def _traced(
    model: "HubModel",
    encoded: Sequence[Encoded],
    interventions: Sequence[Intervention],
    save_layers: Sequence[int] = (),
    logits: bool = True,
    keep_cache: bool = False,
    inputs: Optional[dict[str, Any]] = None,
    past_key_values: Any = None,
) -> dict[str, Any]:
    """Run ONE nnsight trace of the padded batch with `interventions`; caller holds lock/no-grad.

    Returns `inputs`, and as asked: `states` (list, one `[B, T, d]` per saved layer, after the
    edits of that layer), `logits` (`[B, V]`, last column) and `cache` (past_key_values).
    With `inputs` (ready tensors) and `past_key_values`, the trace continues a cached batch:
    `encoded` then only gives the row count, and positions index the new columns (1 per row
    for the shared-prefix "last" step).
    """
    std = model.std
    if inputs is None:
        inputs = _inputs(model, encoded)
        lengths = [len(e) for e in encoded]
    else:
        lengths = [inputs["input_ids"].shape[1]] * inputs["input_ids"].shape[0]
    width = inputs["input_ids"].shape[1]
    resolved = [_resolve(iv, lengths, width, model) for iv in interventions]
    touched = sorted(set(r.layer for r in resolved) | set(int(l) for l in save_layers))
    top = model.num_layers
    if any(l < 0 or l > top for l in touched):
        raise InputError(f"Layers must lie in 0..{top} for this model.")
    kwargs: dict[str, Any] = {"use_cache": keep_cache}
    if past_key_values is not None:
        kwargs["past_key_values"] = past_key_values
    if logits and _accepts(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = 1  # the prompt pass needs only the last column of the head
    saved: list[Any] = []
    out: list[Any] = []
    with std.trace(inputs, **kwargs) as tracer:
        for layer in touched:  # module access must follow execution order
            h = std.layers_input[0] if layer == 0 else std.layers_output[layer - 1]
            edits = [r for r in resolved if r.layer == layer]
            for r in edits:
                h = _apply(h, r)
            if edits:
                if layer == 0:
                    std.layers_input[0] = h
                else:
                    std.layers_output[layer - 1] = h
            if layer in save_layers:
                saved.append(h.save())
        if logits or keep_cache:
            output = std.output
            if logits:
                out.append(output.logits[:, -1].save())
            if keep_cache:
                out.append(output.past_key_values.save())
        else:
            tracer.stop()
    result: dict[str, Any] = {"inputs": inputs, "states": saved}
    if logits:
        result["logits"] = out.pop(0)
    if keep_cache:
        result["cache"] = out.pop(0)
    return result


def forward_with(
    model: "HubModel", prompts: Sequence[str], interventions: Sequence[Intervention] = ()
) -> "torch.Tensor":
    """Next-token logits `[B, V]` (float32, CPU) at each prompt's last token, with interventions.

    One nnsight trace over the left-padded batch (explicit position ids), so a row's result does
    not depend on the other rows beyond float noise.
    """
    import torch

    if not prompts:
        raise InputError("No prompts.")
    encoded = encode(model.tokenizer, prompts)
    with model.lock, torch.inference_mode():
        res = _traced(model, encoded, interventions, logits=True)
        return res["logits"].to(torch.float32).cpu().clone()


def capture_with(
    model: "HubModel",
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
        res = _traced(model, encoded, interventions, save_layers=chosen, logits=False)
        stacked = torch.stack([s.to(torch.float32) for s in res["states"]], dim=2).cpu()
    width = stacked.shape[1]
    return [stacked[i, width - len(e):].clone() for i, e in enumerate(encoded)]


# ---------------------------------------------------------------------------------------------
# Generation


def _eos_ids(model: "HubModel") -> set[int]:
    ids: set[int] = set()
    for source in (model.tokenizer.eos_token_id, getattr(model.hf.generation_config, "eos_token_id", None)):
        if source is None:
            continue
        ids.update(int(i) for i in (source if isinstance(source, (list, tuple)) else [source]))
    return ids


def _pick(logits: Any, greedy: bool, temperature: float, top_p: float, gen: Any) -> Any:
    """Next token per row: argmax, or a sample at `temperature` from the top-p nucleus.

    `gen` is one torch.Generator for the whole batch, or a list with one per row (then a row's
    sample depends only on its own seed, not on which rows share the batch).
    """
    import torch

    if greedy:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.to(torch.float32) / max(float(temperature), 1e-6), dim=-1).cpu()
    batch, vocab = probs.shape
    if top_p < 1.0:
        # the nucleus nearly always lies in the top few hundred tokens: topk is O(V), a full sort
        # of a 262k vocabulary per row and step is not; a row whose nucleus is wider is sorted
        k = min(vocab, NUCLEUS_CANDIDATES)
        top_v, top_i = probs.topk(k, dim=-1)
        rows = []
        for r in range(batch):
            v, i = top_v[r], top_i[r]
            if k < vocab and float(v.sum()) < top_p:
                v, i = probs[r].sort(descending=True)
            # the smallest prefix whose mass reaches top_p (the top token always stays)
            keep = int(((v.cumsum(0) - v) < float(top_p)).sum())
            rows.append((v[:keep], i[:keep]))
    else:
        rows = [(probs[r], None) for r in range(batch)]
    gens = list(gen) if isinstance(gen, (list, tuple)) else [gen] * batch
    picks = []
    for (v, i), g in zip(rows, gens):
        j = int(torch.multinomial(v, 1, generator=g))
        picks.append(int(i[j]) if i is not None else j)
    return torch.tensor(picks, dtype=torch.long, device=logits.device)


def _penalise(logits: Any, generated: list[list[int]], frequency_penalty: float) -> Any:
    """OpenAI-style frequency penalty: subtract penalty x (times the token was generated so far).

    Counts only this row's generated tokens (not the prompt); scatter_add on the fresh logits
    avoids a [B, vocab] count table (262k-token vocabularies).
    """
    import torch

    if not frequency_penalty or not any(generated):
        return logits
    logits = logits.to(torch.float32).clone()
    width = max(len(g) for g in generated)
    index = torch.zeros(len(generated), width, dtype=torch.long)
    weight = torch.zeros(len(generated), width)
    for row, toks in enumerate(generated):
        if toks:
            index[row, : len(toks)] = torch.tensor(toks)
            weight[row, : len(toks)] = -float(frequency_penalty)
    return logits.scatter_add(1, index.to(logits.device), weight.to(logits.device))


def generate_ids(
    model: "HubModel",
    prompts: Sequence[str],
    interventions: Sequence[Intervention] = (),
    max_new_tokens: int = 8,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop_at_newline: bool = False,
    generator: Any = None,
    share_prefix: bool = False,
    frequency_penalty: float = 0.0,
    row_seeds: Optional[Sequence[int]] = None,
) -> list[list[int]]:
    """New token ids per prompt (EOS and anything after a stop excluded); see `generate`.

    `row_seeds`: one sampling seed per prompt; each row then draws from its own generator, so
    a sampled row is the same whether it runs alone or inside a sweep (up to float noise).

    `share_prefix`: when every intervention edits only the last prompt position and some
    prompts repeat (a coefficient sweep), run each distinct prompt minus its last token once
    (plain forward, KV cache), copy that cache to the rows sharing it, then feed each row's
    last token in the traced, edited step. Causal attention makes the earlier positions
    identical across rows, so greedy outputs equal the unshared path (up to float noise in
    the batched kernels); otherwise (other positions, 1-token prompts, no repeats) it is ignored.
    """
    import torch

    if not prompts:
        raise InputError("No prompts.")
    if max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1.")
    encoded = encode(model.tokenizer, prompts)
    if row_seeds is not None:
        if len(row_seeds) != len(prompts):
            raise InputError(f"Give one seed per prompt ({len(prompts)}), not {len(row_seeds)}.")
        gen: Any = [torch.Generator().manual_seed(int(r)) for r in row_seeds]
    else:
        gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    eos = _eos_ids(model)
    pad_id = model.tokenizer.pad_token_id
    hf = model.hf
    newline_ids: dict[int, bool] = {}

    def has_newline(tok: int) -> bool:
        if tok not in newline_ids:
            newline_ids[tok] = "\n" in model.tokenizer.decode([tok])
        return newline_ids[tok]

    with model.lock, torch.inference_mode():
        if share_prefix and _can_share_prefix(encoded, interventions):
            # every edit sits on the last prompt token, so everything before it is the same for
            # all rows of a prompt: run each distinct prefix once, then the last token per row
            res = _shared_prefix_pass(model, encoded, interventions)
        else:
            # prompt pass: the one nnsight trace where the interventions apply; keep the KV cache
            res = _traced(model, encoded, interventions, logits=True, keep_cache=True)
        inputs, cache, logits = res["inputs"], res["cache"], res["logits"]
        batch = len(encoded)
        mask = inputs["attention_mask"]
        pos = inputs.get("position_ids")
        pos = pos[:, -1:] if pos is not None else None
        done = torch.zeros(batch, dtype=torch.bool)
        out: list[list[int]] = [[] for _ in range(batch)]
        for step in range(max_new_tokens):
            nxt = _pick(_penalise(logits, out, frequency_penalty), greedy, temperature, top_p, gen)
            ids = nxt.tolist()
            for row, tok in enumerate(ids):
                if done[row]:
                    continue
                if tok in eos:
                    done[row] = True
                    continue
                out[row].append(tok)
                if stop_at_newline and has_newline(tok):
                    done[row] = True
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            # finished rows keep decoding a pad token (their output is already fixed)
            feed = torch.where(done.to(nxt.device), torch.full_like(nxt, pad_id), nxt)
            mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
            kwargs: dict[str, Any] = {"attention_mask": mask, "past_key_values": cache, "use_cache": True}
            if pos is not None:
                pos = pos + 1
                kwargs["position_ids"] = pos
            step_out = hf(input_ids=feed[:, None], **kwargs)
            cache, logits = step_out.past_key_values, step_out.logits[:, -1]
    return out


def _can_share_prefix(encoded: Sequence[Encoded], interventions: Sequence[Intervention]) -> bool:
    """Shared-prefix prompt pass applies: edits only at "last", prompts of 2+ tokens, repeats."""
    if any(not (isinstance(iv.positions, str) and iv.positions == "last") for iv in interventions):
        return False
    if any(len(e) < 2 for e in encoded):
        return False
    return len({tuple(e.ids) for e in encoded}) < len(encoded)


def _shared_prefix_pass(
    model: "HubModel", encoded: Sequence[Encoded], interventions: Sequence[Intervention]
) -> dict[str, Any]:
    """The prompt pass of `generate_ids` with the prefix (all but the last token) run once per prompt.

    Returns what `_traced(..., keep_cache=True)` returns for the full prompts: `inputs` whose
    attention mask / position ids are those of the full left-padded batch, the edited `cache`
    for every row and the `logits` at the last prompt token. Caller holds lock / no-grad.
    """
    import torch

    first: dict[tuple[int, ...], int] = {}
    unique: list[Encoded] = []
    index: list[int] = []
    for e in encoded:
        key = tuple(e.ids)
        if key not in first:
            first[key] = len(unique)
            unique.append(Encoded(ids=list(e.ids[:-1]), offsets=list(e.offsets[:-1])))
        index.append(first[key])
    device = model.device
    prefix = pad_left([e.ids for e in unique], model.tokenizer.pad_token_id, device)
    prefix_pos = prefix.pop("position_ids")
    kwargs: dict[str, Any] = {"use_cache": True}
    if model.accepts_position_ids:
        kwargs["position_ids"] = prefix_pos
    hf = model.hf
    base = getattr(hf, "base_model", None)
    if base is None or base is hf:  # no separate body: run the whole model, one logit column
        base = hf
        if _accepts(model, "logits_to_keep"):
            kwargs["logits_to_keep"] = 1
    cache = base(**prefix, **kwargs).past_key_values
    rows = torch.tensor(index, dtype=torch.long, device=device)
    cache.batch_select_indices(rows)  # one copy of its prompt's prefix cache per row
    mask = prefix["attention_mask"][rows]
    mask = torch.cat([mask, mask.new_ones(len(encoded), 1)], dim=1)
    last = torch.tensor([e.ids[-1] for e in encoded], dtype=torch.long, device=device)[:, None]
    inputs: dict[str, Any] = {"input_ids": last, "attention_mask": mask}
    if model.accepts_position_ids:
        inputs["position_ids"] = prefix_pos[rows][:, -1:] + 1  # = prefix length (0-based)
    res = _traced(
        model, encoded, interventions, logits=True, keep_cache=True, inputs=inputs, past_key_values=cache
    )
    return res


def _decode(model: "HubModel", ids: Sequence[int], stop_at_newline: bool) -> str:
    text = model.tokenizer.decode(list(ids), skip_special_tokens=True)
    if stop_at_newline and "\n" in text:
        text = text[: text.index("\n")]
    return text


def generate(
    model: "HubModel",
    prompts: Sequence[str],
    interventions: Sequence[Intervention] = (),
    max_new_tokens: int = 8,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop_at_newline: bool = False,
    frequency_penalty: float = 0.0,
    row_seeds: Optional[Sequence[int]] = None,
) -> list[str]:
    """Continuation text only (prompt excluded) of each prompt, all rows in one batch.

    The interventions edit the prompt positions once, in the prompt pass; generated tokens are
    never edited (they see the edit through the KV cache). Greedy decoding with no interventions
    equals `model.hf.generate(do_sample=False)` token for token. Sampling uses only
    `temperature` and `top_p` (no hidden top-k from the model's generation config) with a
    generator seeded by `seed`; a sampled row depends on the rows sampled alongside it.
    A row stops at an EOS token, and with `stop_at_newline` at the first newline (cut off).
    `frequency_penalty` lowers a token's logit by that much per earlier occurrence in the row's
    generated text (the paper's ActAdd setting uses 1.0); `row_seeds` gives each row its own
    sampling stream.
    """
    ids = generate_ids(
        model, prompts, interventions, max_new_tokens, greedy, temperature, top_p, seed,
        stop_at_newline, frequency_penalty=frequency_penalty, row_seeds=row_seeds,
    )
    return [_decode(model, row, stop_at_newline) for row in ids]


def _sweep_chunks(lengths: Sequence[int], per_item: int, new_tokens: int, budget: int) -> list[list[int]]:
    """Consecutive item groups whose rows x padded width fit `budget` (at least one item each)."""
    chunks: list[list[int]] = []
    current: list[int] = []
    width = 0
    for i, n in enumerate(lengths):
        w = max(width, n + new_tokens)
        if current and w * per_item * (len(current) + 1) > budget:
            chunks.append(current)
            current, w = [], n + new_tokens
        current.append(i)
        width = w
    if current:
        chunks.append(current)
    return chunks


def sweep_generate(
    model: "HubModel",
    prompts: Sequence[str],
    vectors: Any,
    layer: int,
    coefs: Sequence[float],
    positions: PositionsArg = "last",
    kind: Literal["add", "replace"] = "add",
    norm_preserving: bool = False,
    max_new_tokens: int = 8,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    stop_at_newline: bool = False,
    token_budget: int = DEFAULT_SWEEP_TOKEN_BUDGET,
    progress: Optional[Progress] = None,
) -> "pd.DataFrame":
    """Every (item, coef) pair as a row of ONE batched generation: tidy `item, coef, prompt, continuation`.

    `vectors` is `[d]` (same for every item) or `[N, d]` (one per prompt). All coefficients of an
    item always share a batch; items are split into several batches only when rows x (prompt +
    new tokens) exceeds `token_budget`. Greedy rows equal the same rows generated alone.
    With `positions="last"` the prompt minus its last token runs once per item, not per row.
    """
    import pandas as pd
    import torch

    prompts = list(prompts)
    coefs = [float(c) for c in coefs]
    if not prompts or not coefs:
        raise InputError("Give at least one prompt and one coefficient.")
    vec = torch.as_tensor(vectors).detach().to(torch.float32)
    if vec.dim() == 1:
        vec = vec.unsqueeze(0).expand(len(prompts), -1)
    if vec.dim() != 2 or vec.shape[0] != len(prompts):
        raise InputError(f"Give one steering vector, or one per prompt ({len(prompts)}).")
    positions = _positions_list(positions)
    if _per_row_positions(positions) and len(positions) != len(prompts):  # type: ignore[arg-type]
        raise InputError("Give one list of positions per prompt.")
    lengths = [len(e) for e in encode(model.tokenizer, prompts)]
    chunks = _sweep_chunks(lengths, len(coefs), max_new_tokens, token_budget)
    gen = torch.Generator().manual_seed(int(seed))
    records: list[dict[str, Any]] = []
    for k, items in enumerate(chunks):
        rows = [(i, c) for i in items for c in coefs]
        row_pos: PositionsArg = positions
        if _per_row_positions(positions):
            row_pos = [list(positions[i]) for i, _ in rows]  # type: ignore[index]
        iv = Intervention(
            layer=layer,
            vectors=vec[[i for i, _ in rows]],
            coefs=[c for _, c in rows],
            positions=row_pos,
            kind=kind,
            norm_preserving=norm_preserving,
        )
        ids = generate_ids(
            model, [prompts[i] for i, _ in rows], [iv], max_new_tokens, greedy, temperature,
            top_p, seed, stop_at_newline, generator=gen, share_prefix=True,
        )
        for (i, c), row in zip(rows, ids):
            records.append(
                {"item": i, "coef": c, "prompt": prompts[i], "continuation": _decode(model, row, stop_at_newline)}
            )
        report(progress, (k + 1) / len(chunks), f"Generated {len(records)}/{len(prompts) * len(coefs)} rows")
    return pd.DataFrame.from_records(records, columns=["item", "coef", "prompt", "continuation"])
