"""Arithmetic experiments (paper §3.2 and §4): numerals vs number words.

- `arithmetic_similarity` (Fig. 5a/b): cosine between every numeral expression "b+c" and every
  word expression "b plus c", grouped into exact translation / same value / different value.
- `numeral_vs_word` (Fig. 5c): at the prefix "a=b+", logit-lens log p of the numeral c vs the
  English word for c.
- `arithmetic_trajectories` (Fig. 6): PCA plane of anchor unembeddings, one path per prefix.
- `plus_one_intervention` (Fig. 12a): add s x (h_l("a equals to b+1 plus") - h_l("a equals to b
  plus")) at the last prompt position; did the answer become c-1?
Each function is registered (`arithmetic similarity|lens|trajectories|intervene`) and serves the
Arithmetic page and `python -m hubcore arithmetic ...`; each returns a `Result`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.arithmetic import (SUPPORTED_LANGUAGES, Expression, all_expressions, anchor_words,
                               number_words, sample_expressions, steering_prompts)
from ..errors import InputError
from ..lens import lens_at, word_variants
from ..progress import Progress, report, scaled
from ..projection import MAX_ANCHORS, MAX_TEXTS, anchor_plane, trace_paths
from ..similarity import METRICS, bucket_similarity
from ..stats import bootstrap_ci
from ..tokens import check_text, encode
from ..trace import capture_last
from .lens_param import LENS, checked_lens
from .registry import Param, default_layer, experiment, group
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

group("arithmetic", "numerals vs number words (paper §3.2, §4)")

N_EXPRESSIONS = len(all_expressions())  # the paper's set: 846 additions + 277 multiplications
N_ADDITIONS = len(all_expressions(("+",)))  # the +1 intervention's pool

# parameters shared by the commands of this group and the Formal-semantics ones
SEED = Param("seed", "seed of the sample and of the bootstrap", type=int)
BOOTSTRAP = Param("n_boot", "bootstrap resamples for the 95% CIs (0: no CI)", type=int,
                  flag="--bootstrap", low=0, high=100_000)
RAW = Param("raw", "skip the final norm (the paper's code)", switch=True)
LANG = Param("lang", "language of the number words", choices=SUPPORTED_LANGUAGES)


def tuple_kwargs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`prepare` for experiments whose parameter names are their arguments: lists become tuples,
    so a page's result cache can key on them."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, []


def variant_shares(wins: Sequence[tuple], columns: Sequence[str], by: Sequence[str]) -> pd.DataFrame:
    """Which surface form (leading space or not) won how many (item, layer) cells: one row per
    `by` group with `cells` and `share` (within the group's first key)."""
    df = pd.DataFrame(list(wins), columns=list(columns)).groupby(list(by)).size().rename("cells").reset_index()
    df["share"] = df["cells"] / df.groupby(by[0])["cells"].transform("sum")
    return df


BUCKETS = ("exact", "same_value", "different_value")
SIM_COLUMNS = ("layer", "metric", "bucket", "mean", "ci_low", "ci_high")
LENS_COLUMNS = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]


@experiment(
    name="arithmetic similarity",
    summary="numeral vs word expressions by bucket (Fig. 5a/b)",
    description="Cosine between 'b+c' and 'b plus c' per layer, grouped into exact / same_value / "
                "different_value / exact_minus_rest, raw and centred. Writes layer,metric,bucket,"
                "mean,ci_low,ci_high.",
    page="arithmetic",
    tables=(Table("curves", SIM_COLUMNS, "mean cosine per layer, metric and bucket, with 95% CIs"),),
    params=(Param("n", "expressions sampled", type=int, low=3, high=N_EXPRESSIONS), SEED, LANG, BOOTSTRAP),
)
def arithmetic_similarity(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    lang: str = "en",
    n_boot: int = 1000,
    metrics: Sequence[str] = METRICS,
    expressions: Optional[Sequence[Expression]] = None,
    progress: Optional[Progress] = None,
) -> Result:
    """Per-layer cosine of numeral vs word expressions, by bucket, with CIs (Fig. 5a/b)."""
    exprs = list(expressions) if expressions is not None else sample_expressions(n, seed=seed)
    if len(exprs) < 3:
        raise InputError("Use at least 3 expressions.")
    a = capture_last(model, [e.numeral for e in exprs], progress=scaled(progress, 0.0, 0.45))
    b = capture_last(model, [e.words(lang) for e in exprs], progress=scaled(progress, 0.45, 0.9))
    import torch

    values = torch.tensor([e.value for e in exprs])
    eye = torch.eye(len(exprs), dtype=torch.bool)
    same = (values[:, None] == values[None, :]) & ~eye
    masks = {"exact": eye, "same_value": same, "different_value": values[:, None] != values[None, :]}
    if not bool(same.any()):
        raise InputError("No two expressions share a value: sample more expressions.")
    report(progress, 0.92, "Bootstrapping confidence intervals")
    curves = bucket_similarity(
        a, b, masks, contrasts={"exact_minus_rest": ("exact", ["same_value", "different_value"])},
        metrics=metrics, n_boot=n_boot, seed=seed,
    )
    report(progress, 1.0, "Done")
    return result("arithmetic similarity", {"curves": curves}, n=len(exprs))


@experiment(
    name="arithmetic lens",
    summary="numeral c vs its word at 'a=b+' (Fig. 5c)",
    description="Logit-lens log p of the answer c as a numeral vs as a word at the prefix 'a=b+' "
                "(the better surface form per item). Writes layer,target,mean_logprob,ci_low,"
                "ci_high,n; the winning surface forms go to <out>_variants.csv.",
    page="arithmetic",
    tables=(Table("curves", tuple(LENS_COLUMNS), "mean lens log p per layer, target in {numeral, word}"),
            Table("variants", ("target", "variant", "cells", "share"),
                  "which surface form (leading space or not) won the (item, layer) cells")),
    params=(Param("n", "prefixes sampled", type=int, low=1, high=N_EXPRESSIONS), RAW, SEED, LANG, BOOTSTRAP,
            LENS),
)
def numeral_vs_word(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    lang: str = "en",
    raw: bool = False,
    n_boot: int = 1000,
    expressions: Optional[Sequence[Expression]] = None,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """At "a=b+", lens log p of the numeral c vs the word for c, per layer (Fig. 5c).

    Both surface forms of each target are read (after "+" the no-space digit is the likely one;
    the word may come with or without a space) and the better one counts for each item and layer.
    """
    exprs = list(expressions) if expressions is not None else sample_expressions(n, seed=seed)
    if not exprs:
        raise InputError("No expressions.")
    tok = model.tokenizer
    per_item: list[dict[str, list[tuple[str, int]]]] = []
    for e in exprs:
        per_item.append({"numeral": word_variants(tok, str(e.c)),
                         "word": word_variants(tok, number_words(e.c, lang))})
    ids = sorted({tid for item in per_item for vs in item.values() for _, tid in vs})
    col = {tid: j for j, tid in enumerate(ids)}
    out = lens_at(model, encode(tok, [e.prefix for e in exprs]), positions="last", top_k=1,
                  target_ids=ids, apply_norm=not raw, progress=scaled(progress, 0.0, 0.95),
                  lens=checked_lens(lens, raw))
    lp = out.target_logprobs.numpy()  # [n_layers, N, n_ids]
    n_layers = lp.shape[0]
    best = {"numeral": np.zeros((len(exprs), n_layers)), "word": np.zeros((len(exprs), n_layers))}
    wins: list[tuple[str, str, str]] = []
    for i, item in enumerate(per_item):
        for target, variants in item.items():
            vals = np.stack([lp[:, i, col[tid]] for _, tid in variants])  # [n_variants, n_layers]
            best[target][i] = vals.max(axis=0)
            for layer_winner in vals.argmax(axis=0):
                v, tid = variants[int(layer_winner)]
                wins.append((target, v, tok.decode([tid])))
    rows = []
    for target, values in best.items():
        mean, lo, hi = bootstrap_ci(values, np.arange(len(exprs)), n_boot=n_boot, seed=seed)
        rows += [(layer, target, float(mean[layer]), float(lo[layer]), float(hi[layer]), len(exprs))
                 for layer in range(n_layers)]
    variants = variant_shares(wins, ["target", "variant", "token"], ["target", "variant"])
    report(progress, 1.0, "Done")
    return result("arithmetic lens", {"curves": pd.DataFrame(rows, columns=LENS_COLUMNS),
                                      "variants": variants}, n=len(exprs))


# ----------------------------------------------------------------------------- trajectories

DEFAULT_PREFIXES = ("8=5+", "12=7+", "eight equals five plus")
PATH_COLUMNS = ("text", "layer", "x", "y", "top_token", "text_index", "top_id")
ANCHOR_COLUMNS = ("label", "token", "x", "y", "token_id", "form", "whole_word")


def _trajectory_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fail fast (before any model load) on no prompt, an empty or oversized one, or too few anchors."""
    prompts = values.get("prompts")
    texts = DEFAULT_PREFIXES if prompts is None else tuple(prompts)
    words = tuple(w.strip() for w in values.get("anchors") or () if w.strip())
    if not texts:
        raise InputError("No prompts to trace: give at least one.")
    if len(texts) > MAX_TEXTS:
        raise InputError(f"At most {MAX_TEXTS} prompts at once, not {len(texts)}.")
    for text in texts:
        check_text(text)
    if not 3 <= len(words) <= MAX_ANCHORS:
        raise InputError(f"Give between 3 and {MAX_ANCHORS} anchor words, not {len(words)}.")
    return {"texts": texts, "words": words}, []


def _variance_line(res: Result) -> list[str]:
    """How much of the anchors' spread the plane shows: a flat picture means little when low."""
    shares = ", ".join(f"{v:.1%}" for v in res.explained_variance_ratio)
    return [f"explained variance of the anchors' plane: {shares} (PC 1, PC 2)"]


@experiment(
    name="arithmetic trajectories",
    summary="last-token paths through layers in the anchors' PCA plane (Fig. 6)",
    description="Fits a PCA plane on the unit unembedding rows of the anchor words (default: "
                "0..9 and zero..nine) and projects each prompt's final-normed, unit last-token "
                "state at every layer onto it. Writes text,layer,x,y,top_token,text_index,top_id "
                "(one row per prompt and layer) and the anchors to <out>_anchors.csv, and prints "
                "the plane's explained variance.",
    page="arithmetic",
    tables=(Table("paths", PATH_COLUMNS, "each prompt's point per layer, with the lens's top-1 token"),
            Table("anchors", ANCHOR_COLUMNS, "the anchors on the plane and the token each one uses")),
    params=(Param("prompts", "a prompt traced (its last token at every layer); repeat the option "
                             f"for several (default: {' | '.join(DEFAULT_PREFIXES)})", flag="--prompt",
                  arg="texts", many="repeat", metavar="TEXT"),
            Param("anchors", "anchor words of the plane, comma-separated (each its own token)",
                  arg="words", many="comma", metavar="WORD,WORD")),
    prepare=_trajectory_inputs,
    report=_variance_line,
)
def arithmetic_trajectories(
    model: "HubModel",
    texts: Optional[Sequence[str]] = None,
    words: Sequence[str] = tuple(anchor_words("digits")),
    progress: Optional[Progress] = None,
) -> Result:
    """Figure 6: the anchors' plane and each text's last-token path across layers 0..L.

    `texts` default (None) to `DEFAULT_PREFIXES` (not a tuple default, so that `--prompt`
    options replace them rather than add to them). `paths` has one row per (text, layer),
    `anchors` one row per anchor word; `explained_variance_ratio` is the plane's (two components).
    """
    report(progress, 0.0, "Fitting the anchor plane")
    plane = anchor_plane(model, words, n_components=2)
    texts = DEFAULT_PREFIXES if texts is None else texts
    paths = trace_paths(model, texts, plane, progress=scaled(progress, 0.05, 0.98))
    report(progress, 1.0, "Done")
    return result("arithmetic trajectories", {"paths": paths, "anchors": plane.frame()},
                  explained_variance_ratio=[float(v) for v in plane.explained_variance_ratio])


# ----------------------------------------------------------------------------- +1 intervention


FEW_SHOT = "3=1+2\n9=4+5\n7=2+5\n"
OUTCOMES = ("corrected", "unchanged", "other")
PAPER_STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
MAX_B = 98  # b+1 must stay within the number words (0..99)
GENERATION_COLUMNS = ("item", "strength", "prompt", "continuation", "layer", "equation", "answer",
                      "outcome", "solved")
RATE_COLUMNS = ("layer", "strength", "outcome", "rate", "n")


def first_number(text: str) -> Optional[int]:
    """The first integer in a continuation ("2\\n8=..." -> 2), or None."""
    m = re.search(r"\d+", text)
    return int(m.group()) if m else None


def classify(expr: Expression, continuation: str) -> str:
    """corrected: the model answers c-1, as if it had read b+1 (8=5+ -> 2); unchanged: c."""
    got = first_number(continuation)
    if got == expr.c - 1:
        return "corrected"
    if got == expr.c:
        return "unchanged"
    return "other"


def _accuracy_line(res: Result) -> list[str]:
    """The line a CLI user reads first: how many items the rates are computed over."""
    return [f"unsteered accuracy: {res.base_accuracy:.1%} ({res.n_solved}/{res.n_items}); "
            "outcome rates are over the solved items"]


@experiment(
    name="arithmetic intervene",
    summary="the +1 intervention with a strength sweep (Fig. 12a)",
    description="Adds s x (h_l('a equals to b+1 plus') - h_l('a equals to b plus')) at the last "
                "prompt position; writes one row per (item, layer, strength) to --out and outcome "
                "rates over items solved unsteered to <out>_rates.csv.",
    page="arithmetic",
    tables=(Table("generations", GENERATION_COLUMNS, "one greedy continuation per (item, layer, strength)"),
            Table("rates", RATE_COLUMNS, "outcome rates over the items solved unsteered")),
    params=(Param("n", "items", type=int, low=1, high=N_ADDITIONS),
            Param("layers", "layers steered (default: the middle block, L // 2)", type=int,
                  many="nargs", low=0),
            Param("strengths", "strengths, one batched generation per layer", type=float, many="nargs"),
            Param("few_shot", "three worked examples before each prompt", switch=True),
            Param("max_b", "largest b (small models do better on 1..9)", type=int, low=1, high=MAX_B),
            LANG, SEED),
    prepare=tuple_kwargs,
    report=_accuracy_line,
)
def plus_one_intervention(
    model: "HubModel",
    n: int = 40,
    seed: int = 0,
    layers: Sequence[int] = (),
    strengths: Sequence[float] = PAPER_STRENGTHS,
    few_shot: bool = False,
    lang: str = "en",
    max_new_tokens: int = 3,
    max_b: int = MAX_B,
    progress: Optional[Progress] = None,
) -> Result:
    """§4 / Fig. 12a: add s x (h_l("a equals to b+1 plus") - h_l("a equals to b plus")) at the
    last position of the prompt "a=b+" at layer l, greedy-decode, and classify the answer.

    Every strength of a layer runs as one batched generation. Outcome rates are computed on the
    items the model solves unsteered (strength 0), since an answer that is wrong to begin with
    cannot show the effect; the unsteered accuracy is reported beside them.
    """
    from ..steering import hidden_difference, sweep_generate

    layers = list(layers) or [default_layer(model)]
    if any(l < 0 or l > model.num_layers for l in layers):
        raise InputError(f"Layers must lie in 0..{model.num_layers}.")
    strengths = sorted(set(float(s) for s in strengths) | {0.0})
    exprs = [e for e in sample_expressions(N_ADDITIONS, seed=seed, ops=("+",))
             if e.c >= 2 and e.b <= max_b][:n]
    if not exprs:
        raise InputError("No usable expressions.")
    prompts = [(FEW_SHOT if few_shot else "") + e.prefix for e in exprs]
    pos = [steering_prompts(e, lang)[0] for e in exprs]
    neg = [steering_prompts(e, lang)[1] for e in exprs]
    frames = []
    for k, layer in enumerate(layers):
        start, end = k / len(layers), (k + 1) / len(layers)
        report(progress, start, f"Steering vectors at layer {layer}")
        vectors = hidden_difference(model, pos, neg, layer)
        df = sweep_generate(model, prompts, vectors, layer, strengths, max_new_tokens=max_new_tokens,
                            greedy=True, progress=scaled(progress, start + 0.1 * (end - start), end))
        frames.append(df.assign(layer=layer))
    gen = pd.concat(frames, ignore_index=True).rename(columns={"coef": "strength"})
    gen["equation"] = [exprs[i].equation for i in gen["item"]]
    gen["answer"] = [first_number(t) for t in gen["continuation"]]
    gen["outcome"] = [classify(exprs[i], t) for i, t in zip(gen["item"], gen["continuation"])]
    base = gen[(gen["strength"] == 0.0) & (gen["layer"] == layers[0])].set_index("item")["outcome"]
    solved_items = set(base.index[base == "unchanged"])  # unsteered answer == c
    gen["solved"] = gen["item"].isin(solved_items)
    rows = []
    on = gen[gen["solved"]]
    for (layer, strength), grp in on.groupby(["layer", "strength"]):
        for outcome in OUTCOMES:
            rows.append((layer, strength, outcome, float((grp["outcome"] == outcome).mean()), len(grp)))
    rates = pd.DataFrame(rows, columns=["layer", "strength", "outcome", "rate", "n"])
    notes = []
    if not solved_items:
        notes.append("The model solves none of these items unsteered, so no outcome rate can be "
                     "computed: try few-shot context or a larger model.")
    report(progress, 1.0, "Done")
    return result("arithmetic intervene", {"generations": gen, "rates": rates}, notes,
                  base_accuracy=len(solved_items) / len(exprs), n_items=len(exprs),
                  n_solved=len(solved_items))
