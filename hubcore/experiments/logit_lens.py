"""Logit-lens experiment: what each layer would predict at each position of one text.

One function serves the Logit Lens page and `python -m hubcore lens`: it reads every layer at
every position through the lens inside the trace (only top-k and target log-probs leave it, so
the same call runs on NDIF) and returns tidy DataFrames.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import pandas as pd

from ..errors import InputError
from ..lens import lens_at, word_variants
from ..patchscope import IDENTITY_PROMPT, continuations
from ..progress import Progress, scaled
from ..tokens import check_text, encode, token_texts
from ..trace import capture_encoded
from .lens_param import LENS, PATCHSCOPE_LAYER, checked_lens
from .registry import Param, experiment
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

MAX_LENS_TOKENS = 512
CSV_COLUMNS = ["layer", "position", "input_token", "rank", "token", "prob"]

# name -> (text, target words): the targets pair the English reading with the input language's
EXAMPLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Chinese (paper's example)": ("今天是开心的一", ("day", "天")),
    "Spanish": ("Hoy es un buen", ("day", "día")),
    "French": ("Bonjour, comment allez-", ("you", "vous")),
    "Arithmetic": ("8=5+", ("3", "three")),
    "Python code": ("numbers = [1, 2, 3]\nfor n in", ("numbers", "range")),
}


CELL_COLUMNS = ["layer", "position", "input_token", "token", "prob", "top_k", "continuation"]
TARGET_COLUMNS = ["layer", "position", "input_token", "target", "variant", "token", "logprob", "prob", "best"]


def lens_cells(topk: pd.DataFrame) -> pd.DataFrame:
    """One row per (layer, position): top-1 token and probability plus a top-k summary."""
    summary = (
        topk.assign(item=topk["token"].map(repr) + " " + topk["prob"].map("{:.3f}".format))
        .groupby(["layer", "position"], sort=True)["item"]
        .agg(" · ".join)
        .rename("top_k")
    )
    first = topk[topk["rank"] == 1].set_index(["layer", "position"])
    return first.join(summary).reset_index()


def _check_inputs(values: dict) -> tuple[dict, list[str]]:
    """Fail fast (before any model load) on empty or oversized text."""
    check_text(values["text"])
    raw = bool(values.get("raw"))
    return {"text": values["text"], "top_k": values["top_k"], "targets": tuple(values.get("targets") or ()),
            "raw": raw, "lens": checked_lens(values.get("lens") or "logit", raw),
            "patchscope_layer": values.get("patchscope_layer"),
            "positions": tuple(values.get("positions") or ()),
            "patchscope_tokens": int(values.get("patchscope_tokens") or 1)}, []


@experiment(
    name="lens",
    summary="logit lens over every layer and position of a text",
    description="Logit lens: top-k next-token readings of every layer (0 = embeddings .. L = last "
                "block) at every position. Writes the columns layer,position,input_token,rank,token,"
                "prob; with --targets also <out>_targets.csv.",
    page="logit_lens",
    tables=(Table("topk", tuple(CSV_COLUMNS), "top-k lens tokens per layer and position"),
            Table("cells", tuple(CELL_COLUMNS), "top-1 token per cell with a top-k summary (the heatmap); "
                  "with --lens patchscope the greedy reading too", optional=("continuation",)),
            Table("targets", tuple(TARGET_COLUMNS), "log p of each target word's surface forms")),
    params=(Param("text", "input text", required=True),
            Param("top_k", "tokens kept per cell", type=int, low=1, high=50),
            Param("targets", "target words tracked with and without a leading space, comma-separated",
                  many="comma", metavar="WORD,WORD"),
            Param("raw", "skip the final norm (the paper's code)", switch=True),
            LENS, PATCHSCOPE_LAYER,
            Param("positions", "token positions to read, comma-separated (default: all; negative counts "
                  "from the end): a patchscope costs one forward per layer and position", type=int,
                  many="comma", metavar="POS,POS"),
            Param("patchscope_tokens", "patchscope only: tokens read greedily per cell (the cells "
                  "table's continuation column)", type=int, low=1, high=8)),
    prepare=_check_inputs,
)
def logit_lens(
    model: "HubModel",
    text: str,
    top_k: int = 5,
    targets: Sequence[str] = (),
    raw: bool = False,
    progress: Optional[Progress] = None,
    lens: str = "logit",
    patchscope_layer: Optional[int] = None,
    positions: Sequence[int] = (),
    patchscope_tokens: int = 1,
) -> Result:
    """Logit lens over every layer (0 = embeddings .. L = last block) and position of `text`.

    `raw=True` skips the final norm (how the paper's code reads hidden states); `targets` are
    words whose log-probability is tracked with and without a leading space.
    """
    if not 1 <= top_k <= 50:
        raise InputError("top-k must be between 1 and 50.")
    encoded = encode(model.tokenizer, [text])
    n_tok = len(encoded[0])
    if n_tok > MAX_LENS_TOKENS:
        raise InputError(
            f"The text is {n_tok} tokens long; the lens view shows at most {MAX_LENS_TOKENS} "
            "positions. Shorten the text."
        )
    words = [w for w in dict.fromkeys(t for t in targets if t and t.strip())]
    variants = [(w, v, tid) for w in words for v, tid in word_variants(model.tokenizer, w)]
    wanted = read_positions(positions, n_tok)
    out = lens_at(
        model,
        encoded,
        positions=[wanted],
        top_k=top_k,
        target_ids=[tid for _, _, tid in variants],
        apply_norm=not raw,
        progress=scaled(progress, 0.0, 0.9 if patchscope_tokens > 1 else 1.0),
        lens=checked_lens(lens, raw),
        patchscope_layer=patchscope_layer,
    )
    tok = model.tokenizer
    inputs = token_texts(tok, encoded[0].ids)
    n_layers, n_pos, k = out.top_ids.shape
    unique = sorted(set(out.top_ids.flatten().tolist()))
    vocab_text = dict(zip(unique, token_texts(tok, unique)))
    rows = []
    ids = out.top_ids.tolist()
    lps = out.top_logprobs.tolist()
    for layer in range(n_layers):
        for j, pos in enumerate(wanted):
            for rank in range(k):
                tid = ids[layer][j][rank]
                lp = lps[layer][j][rank]
                rows.append((layer, pos, inputs[pos], rank + 1, vocab_text[tid], math.exp(lp), lp, tid))
    topk = pd.DataFrame(rows, columns=CSV_COLUMNS + ["logprob", "token_id"])
    targets_df = _targets_frame(out.target_logprobs, variants, tok, inputs, wanted)
    cells = lens_cells(topk)
    notes = []
    if lens == "patchscope":
        cells = cells.assign(continuation=cells["token"])
        if patchscope_tokens > 1:
            cells["continuation"] = patchscope_texts(model, encoded[0], wanted, patchscope_tokens, patchscope_layer,
                                                     scaled(progress, 0.9, 1.0))
        notes.append(f"Patchscope: each of the {n_layers * len(wanted)} cells is the next token of "
                     f"'{IDENTITY_PROMPT}' with the state written at '?' (one forward per cell).")
    return result("lens", {"topk": topk, "cells": cells, "targets": targets_df}, notes,
                  input_tokens=inputs, num_layers=model.num_layers, raw=raw, lens=lens, positions=wanted)


def token_count(text: str, tokenizer: Callable[[], Any], fits: int) -> int:
    """The text's token count, or an upper bound on it when that bound is at most `fits`.

    A token holds at least one UTF-8 byte (+2 for special tokens), so a short text's bound needs
    no tokenizer: a page deciding whether a text needs a window of positions opens from the demo
    bundle before the model has loaded. `tokenizer()` is called only for longer texts.
    """
    bound = len(check_text(text).encode("utf-8")) + 2
    if bound <= fits:
        return bound
    return len(encode(tokenizer(), [text])[0])


def read_positions(positions: Sequence[int], n_tok: int) -> list[int]:
    """Token positions to read: all when none are given; negative ones count from the end."""
    if not positions:
        return list(range(n_tok))
    out = sorted({int(p) + n_tok if int(p) < 0 else int(p) for p in positions})
    if out[0] < 0 or out[-1] >= n_tok:
        raise InputError(f"Positions must lie in 0..{n_tok - 1} (or count back from -1) for this text.")
    return out


def patchscope_texts(model: "HubModel", enc: Any, wanted: list[int], tokens: int, target_layer: Optional[int],
                     progress: Optional[Progress]) -> list[str]:
    """The patchscope's greedy reading of every cell (layer-major, like the cells table)."""
    cap = capture_encoded(model, [enc], positions=[wanted])
    states = cap.states[0]  # [P, L + 1, d]
    n_pos, n_layers, d = states.shape
    flat = states.permute(1, 0, 2).reshape(n_layers * n_pos, d)
    return continuations(model, flat, [layer for layer in cap.layers for _ in range(n_pos)], tokens, target_layer,
                         progress=progress)


def _targets_frame(tgt: Any, variants: list[tuple[str, str, int]], tok: Any, inputs: list[str],
                   positions: Optional[Sequence[int]] = None) -> pd.DataFrame:
    """Long table of target log-probs; `best` marks the winning surface form per cell.
    `positions`: the token position of each lens column (default 0..P-1)."""
    cols = TARGET_COLUMNS
    if not variants:
        return pd.DataFrame(columns=cols)
    n_layers, n_pos, _ = tgt.shape
    positions = list(positions) if positions is not None else list(range(n_pos))
    rows = []
    values = tgt.tolist()
    for j, (word, variant, tid) in enumerate(variants):
        token = tok.decode([tid], clean_up_tokenization_spaces=False)
        for layer in range(n_layers):
            for c, pos in enumerate(positions):
                lp = values[layer][c][j]
                rows.append((layer, pos, inputs[pos], word, variant, token, lp, math.exp(lp), False))
    df = pd.DataFrame(rows, columns=cols)
    # the surface form (with/without space) that is more likely at a (layer, position) wins
    best = df.groupby(["layer", "position", "target"])["logprob"].transform("max")
    df["best"] = df["logprob"] >= best
    return df


def suggest_targets(res: Result, position: Optional[int] = None) -> list[str]:
    """Target words worth tracking for a text the page has no targets for: the model's own
    answer at `position` (the last layer's top-1 there, default the last position) and the
    reading its middle layers agree on most (the middle third's most frequent top-1), when it
    differs. Words are given without a leading space (both surface forms are tracked)."""
    cells = res.cells
    if not len(cells):
        return []
    top = int(res.num_layers)
    pos = int(cells["position"].max()) if position is None else int(position)
    here = cells[cells["position"] == pos]
    words: list[str] = []

    def word(token: str) -> str:
        w = str(token).strip()
        return w if any(ch.isalnum() for ch in w) else ""

    final = here[here["layer"] == top]["token"]
    if len(final) and word(final.iloc[0]):
        words.append(word(final.iloc[0]))
    middle = here[(here["layer"] >= top // 3) & (here["layer"] <= (2 * top) // 3)]["token"].map(word)
    for candidate in middle[middle != ""].value_counts().index:
        if candidate not in words:
            words.append(candidate)
            break
    return words
