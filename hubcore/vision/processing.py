"""Prompts, batched inputs, capture, the in-trace lens and edited generation for VLMs.

Every computation is one `handle.trace(...)` per batch, so it runs locally, as the remote dry run
or on NDIF alike; trace bodies call only `hubcore.models.intrace`.

- Inputs (`build_prompt`, `encode`, `encode_texts`, `image_token_positions`, `patch_grid`,
  `QwenVLProcessor`) live in `models.vision_inputs` and are re-exported here.
- `capture_states`: ONE trace per batch saving the chosen layers at the chosen columns (picked
  inside the trace), stopped after the last block needed (the LM head never runs).
- `lens_columns` / `lens_images`: the logit lens of chosen columns at every chosen layer,
  reduced inside the trace to top-k and target log-probs.
- `generate_with_edits`: greedy generation in ONE trace: the edits apply to the prompt pass
  (`intrace.edit_layers`) and the decode loop (`intrace.decode`) continues on the KV cache, so the
  edited image-token states reach the answer through the cache, as in the paper's intervention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..errors import InputError
from ..models.intrace import decode, edit_layers, lens_reduce, residual
from ..models.vision_inputs import (QwenVLProcessor, build_prompt, encode, encode_texts, image_token_positions,
                     patch_grid)

if TYPE_CHECKING:
    from ..lens import LensOutput
    from ..models.vision import VisionHandle

__all__ = [
    "QwenVLProcessor", "batches", "build_prompt", "capture_states", "edit_tuple", "encode",
    "encode_texts", "generate_with_edits", "image_states", "image_token_positions", "lens_columns",
    "lens_images", "patch_grid", "step_positions",
]

NUCLEUS = 1024  # unused by greedy decoding; `intrace.decode` takes it for sampling


def _flat_index(columns: Sequence[Sequence[int]]) -> tuple[Any, Any, list[int]]:
    """(rows, cols, per-row counts) of every wanted cell of a padded batch."""
    import torch

    rows = [r for r, cols in enumerate(columns) for _ in cols]
    cols = [c for row in columns for c in row]
    return (torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long),
            [len(c) for c in columns])


def capture_states(model: "VisionHandle", inputs: dict[str, Any], columns: Sequence[Sequence[int]],
                   layers: Sequence[int]) -> list[Any]:
    """Per row: float32 CPU `[P_i, n_layers, d]` at padded-batch `columns[i]`, for `layers`.

    Layer 0 is the input of the first decoder block (token embeddings with image features merged
    in), layer i the output of block i. The columns are picked inside the trace (a remote run
    ships only them) and the trace stops after the last block needed.
    """
    import nnsight
    import torch

    rows, cols, sizes = _flat_index(columns)
    chosen = [int(l) for l in layers]
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(**inputs) as tracer:
            picked = []
            for layer in chosen:  # module access must follow execution order
                h = residual(nn, layer)
                picked.append(h[rows.to(h.device), cols.to(h.device)])
            saved = nnsight.save(picked)
            tracer.stop()
    stacked = torch.stack([s.to(torch.float32).cpu() for s in saved], dim=1)  # [P, n, d]
    return [part.clone() for part in torch.split(stacked, sizes, dim=0)]


def lens_columns(model: "VisionHandle", inputs: dict[str, Any], columns: Sequence[Sequence[int]],
                 layers: Sequence[int], top_k: int = 1, target_ids: Sequence[int] = (),
                 apply_norm: bool = True) -> list["LensOutput"]:
    """The lens of `layers` at padded-batch `columns[i]` of each row, reduced inside the trace.

    Per row a `LensOutput` with top ids / log-probs `[n_layers, P_i, k]` and the log-probs of
    `target_ids` `[n_layers, P_i, n_t]`.
    """
    import nnsight
    import torch

    from ..lens import LensOutput, chunk_rows

    rows, cols, sizes = _flat_index(columns)
    chosen = [int(l) for l in layers]
    k = max(1, min(int(top_k), model.vocab))
    tgt = torch.tensor([int(t) for t in target_ids], dtype=torch.long)
    head_in, softcap, scale = model.readout.trace_args()
    chunk = chunk_rows(model)
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(**inputs) as tracer:
            reduced = []
            for layer in chosen:  # module access must follow execution order
                h = residual(nn, layer)
                picked = h[rows.to(h.device), cols.to(h.device)]
                reduced.append(lens_reduce(nn, picked, k, tgt, None, apply_norm, head_in, softcap,
                                           scale, chunk))
            saved = nnsight.save(reduced)
            tracer.stop()  # the forward need not go past the deepest layer read
    fields = [torch.stack([r[j] for r in saved]) for j in range(3)]  # [n_layers, P, ...]
    parts = [torch.split(f, sizes, dim=1) for f in fields]
    return [LensOutput(layers=chosen, top_ids=parts[0][i].clone(), top_logprobs=parts[1][i].clone(),
                       target_logprobs=parts[2][i].clone(), sizes=[sizes[i]])
            for i in range(len(sizes))]


def step_positions(model: "VisionHandle", inputs: dict[str, Any]) -> Any:
    """Position ids of each row's last prompt token for the decode loop, or None.

    Qwen-VL's 3-D rotary positions (`[3, B, 1]`) cannot be rebuilt from a plain decode step's
    attention mask, so they are computed here exactly as the model computes them for the prompt
    (`get_rope_index`: index arithmetic on the CPU inputs, no weights) and advanced by one per
    generated token. Other families take positions from the cache length, as in the prompt pass.
    """
    if not model.family_info.mrope or "image_grid_thw" not in inputs:
        return None
    import torch

    with torch.inference_mode():
        pos, _ = model.hf.model.get_rope_index(
            inputs["input_ids"], inputs.get("mm_token_type_ids"), image_grid_thw=inputs["image_grid_thw"],
            attention_mask=inputs.get("attention_mask"))
    return pos[:, :, -1:].cpu().clone()


def edit_tuple(layer: int, mask: Any, vec: Any) -> tuple[Any, ...]:
    """The `intrace.edit_layers` edit adding row b's `vec[b, 0]` wherever `mask[b, :, 0]` is set:
    (layer, rows, cols, table, which, scale, kind, norm_preserving)."""
    import torch

    rows, cols = torch.nonzero(torch.as_tensor(mask)[:, :, 0].bool().cpu(), as_tuple=True)
    table = torch.as_tensor(vec).detach().to(torch.float32).cpu()[:, 0, :]  # one vector per row
    return (int(layer), rows, cols, table, rows.clone(), torch.ones(len(rows)), "add", False)


def generate_with_edits(model: "VisionHandle", inputs: dict[str, Any], edits: dict[int, tuple[Any, Any]],
                        max_new_tokens: int = 8) -> list[str]:
    """Greedy answers with `edits` = {layer: (mask [B, T, 1] bool, vector [B, 1, d])} added to the
    prompt pass: h <- h + vector where mask. Returns the decoded new text per row.

    One trace: the prompt pass with the edits, then the decode loop on the KV cache (generated
    tokens are never edited; they see the edit through the cache). Stops at the model's EOS.
    """
    import nnsight
    import torch

    from ..steering.generation import eos_ids

    tok = model.tokenizer
    plan = [edit_tuple(layer, mask, vec) for layer, (mask, vec) in sorted(edits.items())]
    pos = step_positions(model, inputs)
    eos = sorted(eos_ids(model))
    pad = int(tok.pad_token_id)
    mask = inputs["attention_mask"]
    state = torch.Generator().get_state()  # greedy: never drawn from
    nn = model.nn
    with model.lock, torch.inference_mode():
        with model.trace(**inputs, use_cache=True):
            edit_layers(nn, plan, (), False)
            out = nn.output
            result = nnsight.save(decode(nn, out.logits[:, -1], out.past_key_values, mask, pos,
                                         int(max_new_tokens), True, 1.0, 1.0, 0.0, None, state, eos,
                                         pad, False, NUCLEUS, None))
    ids, _ = result
    return [tok.decode(list(row), skip_special_tokens=True) for row in ids]


def batches(n: int, size: int) -> list[range]:
    """Consecutive index ranges of at most `size` items."""
    size = max(1, int(size))
    return [range(i, min(n, i + size)) for i in range(0, n, size)]


Grid = dict[str, Any]  # {"rows", "cols", "n"} of one image's tokens


def _image_batch(model: "VisionHandle", images: Sequence[Any],
                 prompt: str) -> tuple[dict[str, Any], list[list[int]], list[Grid]]:
    """Inputs, image-token columns and grid facts of one batch of images."""
    inputs = encode(model, images, [prompt] * len(images))
    cols = image_token_positions(model, inputs["input_ids"])
    if any(not c for c in cols):
        raise InputError("The processed prompt holds no image tokens: check the model's processor.")
    grids = []
    for j, c in enumerate(cols):
        rows_, cols_ = patch_grid(model, len(c), inputs, j)
        grids.append({"rows": rows_, "cols": cols_, "n": len(c)})
    return inputs, cols, grids


def image_states(model: "VisionHandle", images: Sequence[Any], prompt: str, layers: Sequence[int],
                 batch_size: int = 8, progress: Optional[Any] = None) -> tuple[list[Any], list[Grid]]:
    """Image-token states per image: float32 `[n_image_tokens, n_layers, d]`, and per image the
    grid facts {"rows", "cols"} (row-major token order) for drawing and halves."""
    from ..progress import report

    states: list[Any] = []
    grids: list[Grid] = []
    for rng in batches(len(images), batch_size):
        inputs, cols, g = _image_batch(model, [images[i] for i in rng], prompt)
        states += capture_states(model, inputs, cols, layers)
        grids += g
        report(progress, len(states) / len(images), f"Captured {len(states)}/{len(images)} images")
    return states, grids


def lens_images(model: "VisionHandle", images: Sequence[Any], prompt: str, layers: Sequence[int],
                top_k: int = 1, target_ids: Sequence[int] = (), apply_norm: bool = True,
                batch_size: int = 8,
                progress: Optional[Any] = None) -> tuple[list["LensOutput"], list[Grid]]:
    """The lens of every image token of each image at `layers` (reduced inside the trace), and
    per image the grid facts {"rows", "cols"}."""
    from ..progress import report

    outs: list["LensOutput"] = []
    grids: list[Grid] = []
    for rng in batches(len(images), batch_size):
        inputs, cols, g = _image_batch(model, [images[i] for i in rng], prompt)
        outs += lens_columns(model, inputs, cols, layers, top_k, target_ids, apply_norm)
        grids += g
        report(progress, len(outs) / len(images), f"Lens over {len(outs)}/{len(images)} images")
    return outs, grids
