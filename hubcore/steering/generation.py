"""Batched generation with interventions, locally or remotely, in ONE trace per batch.

The prompt pass is a trace with the interventions applied; the decode loop
(`models.intrace.decode`) then continues every row token by token with plain forwards on the KV
cache. So the steered prompt positions are edited exactly once and generated tokens are never
edited (they see the edit only through the cache: ActAdd semantics). Remotely the loop runs
inside the same trace body, so a run is one job, not one per token; locally it runs after the
trace on the plain model with `models.decode_kernels` (threaded products for the step's shapes).
Position ids, stopping and sampling stay free of the model's generation-config defaults (no
hidden top-k).

`sweep_generate` runs items x coefficients as rows of one batched generation. With edits at the
last prompt position only, each distinct prompt minus its last token runs once and its KV cache
is copied to the rows sharing it (`share_prefix`, local runs only: a cache does not travel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Sequence

from ..errors import InputError
from ..models.decode_kernels import decode_kernels
from ..models.intrace import decode, edit_layers
from ..progress import Progress, report
from ..tokens import Encoded, encode, model_inputs, pad_left
from .intervention import Intervention, PositionsArg, accepts, per_row_positions, positions_list, resolve

if TYPE_CHECKING:
    import pandas as pd

    from ..models.handle import Handle

DEFAULT_SWEEP_TOKEN_BUDGET = 8192  # rows x (prompt + new tokens) per batched generation
NUCLEUS_CANDIDATES = 1024  # top-p sampling looks for the nucleus among this many tokens first
TokenCallback = Callable[[int, list[list[int]]], None]

PREFIX_NOTE = ("Prefix sharing (the prompt's shared part run once per sweep) is off for remote runs: "
               "a KV cache does not travel, so each row's prompt runs in full (same results, more "
               "server time).")


def eos_ids(model: "Handle") -> set[int]:
    """Token ids that end a row: the tokenizer's EOS and the generation config's."""
    ids: set[int] = set()
    config = getattr(model.hf, "generation_config", None)
    for source in (model.tokenizer.eos_token_id, getattr(config, "eos_token_id", None)):
        if source is None:
            continue
        ids.update(int(i) for i in (source if isinstance(source, (list, tuple)) else [source]))
    return ids


def can_share_prefix(encoded: Sequence[Encoded], interventions: Sequence[Intervention]) -> bool:
    """Shared-prefix prompt pass applies: edits only at "last", prompts of 2+ tokens, repeats."""
    if any(not (isinstance(iv.positions, str) and iv.positions == "last") for iv in interventions):
        return False
    if any(len(e) < 2 for e in encoded):
        return False
    return len({tuple(e.ids) for e in encoded}) < len(encoded)


def shared_prefix_inputs(model: "Handle", encoded: Sequence[Encoded],
                         suffix: int = 1) -> tuple[dict[str, Any], Any]:
    """Run each distinct prompt minus its last `suffix` tokens once (plain local forward, KV
    cache kept), copy the cache to the rows sharing it, and return the inputs of those last
    tokens and that cache.

    Causal attention makes the earlier positions identical across rows of one prompt, so the
    traced step over the last tokens then equals the full prompt pass (up to float noise in
    batched kernels); edits may sit anywhere in those last tokens (patching writes a word's
    state a few tokens before the end). Caller holds the lock and inference mode.
    """
    import torch

    if suffix < 1 or any(len(e) <= suffix for e in encoded):
        raise InputError(f"Every prompt needs more than {suffix} token(s) to share its prefix.")
    first: dict[tuple[int, ...], int] = {}
    unique: list[list[int]] = []
    index: list[int] = []
    for e in encoded:
        key = tuple(e.ids)
        if key not in first:
            first[key] = len(unique)
            unique.append(list(e.ids[:-suffix]))
        index.append(first[key])
    device = model.device
    prefix = pad_left(unique, model.tokenizer.pad_token_id, device)
    prefix_pos = prefix.pop("position_ids")
    kwargs: dict[str, Any] = {"use_cache": True}
    if model.accepts_position_ids:
        kwargs["position_ids"] = prefix_pos
    hf = model.hf
    base = getattr(hf, "base_model", None)
    if base is None or base is hf:  # no separate body: run the whole model, one logit column
        base = hf
        if accepts(model, "logits_to_keep"):
            kwargs["logits_to_keep"] = 1
    cache = base(**prefix, **kwargs).past_key_values
    rows = torch.tensor(index, dtype=torch.long, device=device)
    cache.batch_select_indices(rows)  # one copy of its prompt's prefix cache per row
    mask = prefix["attention_mask"][rows]
    mask = torch.cat([mask, mask.new_ones(len(encoded), suffix)], dim=1)
    last = torch.tensor([e.ids[-suffix:] for e in encoded], dtype=torch.long, device=device)
    inputs: dict[str, Any] = {"input_ids": last, "attention_mask": mask}
    if model.accepts_position_ids:  # the prefix length (0-based) onwards
        inputs["position_ids"] = prefix_pos[rows][:, -1:] + 1 + torch.arange(suffix, device=device)
    return inputs, cache


def generate_ids(
    model: "Handle",
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
    on_token: Optional[TokenCallback] = None,
) -> list[list[int]]:
    """New token ids per prompt (EOS and anything after a stop excluded); see `generate`.

    `row_seeds`: one sampling seed per prompt; each row then draws from its own generator, so
    a sampled row is the same whether it runs alone or inside a sweep (up to float noise).
    Otherwise rows draw in turn from one stream (`generator`, continued across calls, or seeded
    by `seed`). `share_prefix`: see `shared_prefix_inputs` (ignored for remote runs and where
    edits sit elsewhere than the last token, 1-token prompts or no repeats). `on_token(step,
    ids)`: called after every decoding step with the ids so far (local runs; streaming).
    """
    import nnsight
    import torch

    if not prompts:
        raise InputError("No prompts.")
    if max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1.")
    encoded = encode(model.tokenizer, prompts)
    seeds = None
    if row_seeds is not None:
        if len(row_seeds) != len(prompts):
            raise InputError(f"Give one seed per prompt ({len(prompts)}), not {len(row_seeds)}.")
        seeds = [int(r) for r in row_seeds]
    gen = generator if generator is not None else torch.Generator().manual_seed(int(seed))
    state = None if seeds is not None else gen.get_state()
    eos = sorted(eos_ids(model))
    pad_id = int(model.tokenizer.pad_token_id)
    local = model.remote == "off"
    callback = on_token if local else None
    nn = model.nn
    with model.lock, torch.inference_mode():
        past = None
        if share_prefix and local and can_share_prefix(encoded, interventions):
            inputs, past = shared_prefix_pass(model, encoded)
            lengths = [1] * len(encoded)  # positions index the new (last-token) column
        else:
            inputs = model_inputs(model, [e.ids for e in encoded])
            lengths = [len(e) for e in encoded]
        width = inputs["input_ids"].shape[1]
        edits = [resolve(iv, lengths, width, model).as_edit() for iv in interventions]
        kwargs: dict[str, Any] = {"use_cache": True}
        if past is not None:
            kwargs["past_key_values"] = past
        if accepts(model, "logits_to_keep"):
            kwargs["logits_to_keep"] = 1
        mask = inputs["attention_mask"]
        pos = inputs.get("position_ids")
        pos = pos[:, -1:] if pos is not None else None
        settings = (int(max_new_tokens), bool(greedy), float(temperature), float(top_p),
                    float(frequency_penalty), seeds, state, eos, pad_id, bool(stop_at_newline),
                    NUCLEUS_CANDIDATES)
        with model.trace(**inputs, **kwargs):
            edit_layers(nn, edits, (), False)
            output = nn.output
            if local:  # the prompt pass only; the loop runs after the trace, on the plain model
                first = nnsight.save(output.logits[:, -1])
                cache = nnsight.save(output.past_key_values)
            else:  # one remote job: the loop runs inside the trace, on the server
                result = nnsight.save(decode(nn, output.logits[:, -1], output.past_key_values,
                                             mask, pos, *settings, callback))
        if local:
            with decode_kernels(model.device):
                result = decode(PlainSteps(model), first, cache, mask, pos, *settings, callback)
    out, final_state = result
    if final_state is not None:
        gen.set_state(final_state)  # a later call continues the same stream
    return [list(r) for r in out]


class PlainSteps:
    """The local model as `intrace.decode` calls it: one forward per step and the tokenizer.

    Decoding steps after the prompt pass carry no edits (they see them through the KV cache),
    so locally they run on the plain module, outside any trace, where `DecodeKernels` applies.
    """

    def __init__(self, model: "Handle") -> None:
        self.hf = model.hf
        self.tokenizer = model.tokenizer

    def __call__(self, **kwargs: Any) -> Any:
        return self.hf(**kwargs)


def shared_prefix_pass(model: "Handle", encoded: Sequence[Encoded]) -> tuple[dict[str, Any], Any]:
    """The shared-prefix prompt inputs (a seam for tests that count its use)."""
    return shared_prefix_inputs(model, encoded)


def decode_text(model: "Handle", ids: Sequence[int], stop_at_newline: bool) -> str:
    """Generated ids as text (special tokens dropped; cut at the first newline when asked)."""
    text = model.tokenizer.decode(list(ids), skip_special_tokens=True)
    if stop_at_newline and "\n" in text:
        text = text[: text.index("\n")]
    return text


def generate(
    model: "Handle",
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
    return [decode_text(model, row, stop_at_newline) for row in ids]


def sweep_chunks(lengths: Sequence[int], per_item: int, new_tokens: int, budget: int) -> list[list[int]]:
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
    model: "Handle",
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
    positions = positions_list(positions)
    if per_row_positions(positions) and len(positions) != len(prompts):  # type: ignore[arg-type]
        raise InputError("Give one list of positions per prompt.")
    lengths = [len(e) for e in encode(model.tokenizer, prompts)]
    chunks = sweep_chunks(lengths, len(coefs), max_new_tokens, token_budget)
    gen = torch.Generator().manual_seed(int(seed))
    records: list[dict[str, Any]] = []
    for k, items in enumerate(chunks):
        rows = [(i, c) for i in items for c in coefs]
        row_pos: PositionsArg = positions
        if per_row_positions(positions):
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
                {"item": i, "coef": c, "prompt": prompts[i], "continuation": decode_text(model, row, stop_at_newline)}
            )
        report(progress, (k + 1) / len(chunks), f"Generated {len(records)}/{len(prompts) * len(coefs)} rows")
    return pd.DataFrame.from_records(records, columns=["item", "coef", "prompt", "continuation"])
