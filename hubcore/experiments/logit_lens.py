"""Logit-lens experiment: what each layer would predict at each position of one text.

One function serves the Logit Lens page and `python -m hubcore lens`: it reads every layer at
every position through the lens inside the trace (only top-k and target log-probs leave it, so
the same call runs on NDIF) and returns tidy DataFrames.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional, Sequence

import pandas as pd

from ..errors import InputError
from ..lens import lens_at, word_variants
from ..progress import Progress, scaled
from ..tokens import check_text, encode, token_texts
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


CELL_COLUMNS = ["layer", "position", "input_token", "token", "prob", "top_k"]
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
    return {"text": values["text"], "top_k": values["top_k"], "targets": tuple(values.get("targets") or ()),
            "raw": bool(values.get("raw"))}, []


@experiment(
    name="lens",
    summary="logit lens over every layer and position of a text",
    description="Logit lens: top-k next-token readings of every layer (0 = embeddings .. L = last "
                "block) at every position. Writes the columns layer,position,input_token,rank,token,"
                "prob; with --targets also <out>_targets.csv.",
    page="logit_lens",
    tables=(Table("topk", tuple(CSV_COLUMNS), "top-k lens tokens per layer and position"),
            Table("cells", tuple(CELL_COLUMNS), "top-1 token per cell with a top-k summary (the heatmap)"),
            Table("targets", tuple(TARGET_COLUMNS), "log p of each target word's surface forms")),
    params=(Param("text", "input text", required=True),
            Param("top_k", "tokens kept per cell", type=int, low=1, high=50),
            Param("targets", "target words tracked with and without a leading space, comma-separated",
                  many="comma", metavar="WORD,WORD"),
            Param("raw", "skip the final norm (the paper's code)", switch=True)),
    prepare=_check_inputs,
)
def logit_lens(
    model: "HubModel",
    text: str,
    top_k: int = 5,
    targets: Sequence[str] = (),
    raw: bool = False,
    progress: Optional[Progress] = None,
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
    out = lens_at(
        model,
        encoded,
        positions="all",
        top_k=top_k,
        target_ids=[tid for _, _, tid in variants],
        apply_norm=not raw,
        progress=scaled(progress, 0.0, 1.0),
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
        for pos in range(n_pos):
            for rank in range(k):
                tid = ids[layer][pos][rank]
                lp = lps[layer][pos][rank]
                rows.append((layer, pos, inputs[pos], rank + 1, vocab_text[tid], math.exp(lp), lp, tid))
    topk = pd.DataFrame(rows, columns=CSV_COLUMNS + ["logprob", "token_id"])
    targets_df = _targets_frame(out.target_logprobs, variants, tok, inputs)
    return result("lens", {"topk": topk, "cells": lens_cells(topk), "targets": targets_df},
                  input_tokens=inputs, num_layers=model.num_layers, raw=raw)


def _targets_frame(tgt: Any, variants: list[tuple[str, str, int]], tok: Any, inputs: list[str]) -> pd.DataFrame:
    """Long table of target log-probs; `best` marks the winning surface form per cell."""
    cols = TARGET_COLUMNS
    if not variants:
        return pd.DataFrame(columns=cols)
    n_layers, n_pos, _ = tgt.shape
    rows = []
    values = tgt.tolist()
    for j, (word, variant, tid) in enumerate(variants):
        token = tok.decode([tid], clean_up_tokenization_spaces=False)
        for layer in range(n_layers):
            for pos in range(n_pos):
                lp = values[layer][pos][j]
                rows.append((layer, pos, inputs[pos], word, variant, token, lp, math.exp(lp), False))
    df = pd.DataFrame(rows, columns=cols)
    # the surface form (with/without space) that is more likely at a (layer, position) wins
    best = df.groupby(["layer", "position", "target"])["logprob"].transform("max")
    df["best"] = df["logprob"] >= best
    return df
