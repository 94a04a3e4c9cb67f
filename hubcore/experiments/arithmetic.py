"""Arithmetic experiments (paper §3.2 and §4): numerals vs number words.

- `arithmetic_similarity` (Fig. 5a/b): cosine between every numeral expression "b+c" and every
  word expression "b plus c", grouped into exact translation / same value / different value.
- `numeral_vs_word` (Fig. 5c): at the prefix "a=b+", logit-lens log p of the numeral c vs the
  English word for c.
- `arithmetic_trajectories` (Fig. 6): PCA plane of anchor unembeddings, one path per prefix.
- `plus_one_intervention` (Fig. 12a): add s x (h_l("a equals to b+1 plus") - h_l("a equals to b
  plus")) at the last prompt position; did the answer become c-1?
Each function serves the Arithmetic page and `python -m hubcore arithmetic ...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.arithmetic import Expression, number_words, sample_expressions, steering_prompts
from ..errors import InputError
from ..lens import lens_at, word_variants
from ..progress import Progress, report, scaled
from ..similarity import METRICS, bucket_similarity
from ..stats import bootstrap_ci
from ..tokens import encode
from ..trace import capture_last

if TYPE_CHECKING:
    from ..models import HubModel

BUCKETS = ("exact", "same_value", "different_value")
LENS_COLUMNS = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]


@dataclass
class ArithmeticSimilarity:
    curves: pd.DataFrame  # layer,metric,bucket,mean,ci_low,ci_high
    n: int


def arithmetic_similarity(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    lang: str = "en",
    n_boot: int = 1000,
    metrics: Sequence[str] = METRICS,
    expressions: Optional[Sequence[Expression]] = None,
    progress: Optional[Progress] = None,
) -> ArithmeticSimilarity:
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
    return ArithmeticSimilarity(curves=curves, n=len(exprs))


@dataclass
class NumeralWordReport:
    curves: pd.DataFrame  # layer,target,mean_logprob,ci_low,ci_high,n ; target in {numeral, word}
    variants: pd.DataFrame  # target, variant, token, share of (item, layer) cells it won
    n: int


def numeral_vs_word(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    lang: str = "en",
    raw: bool = False,
    n_boot: int = 1000,
    expressions: Optional[Sequence[Expression]] = None,
    progress: Optional[Progress] = None,
) -> NumeralWordReport:
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
                  target_ids=ids, apply_norm=not raw, progress=scaled(progress, 0.0, 0.95))
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
    variants = (pd.DataFrame(wins, columns=["target", "variant", "token"])
                .groupby(["target", "variant"]).size().rename("cells").reset_index())
    variants["share"] = variants["cells"] / variants.groupby("target")["cells"].transform("sum")
    report(progress, 1.0, "Done")
    return NumeralWordReport(curves=pd.DataFrame(rows, columns=LENS_COLUMNS), variants=variants,
                             n=len(exprs))


FEW_SHOT = "3=1+2\n9=4+5\n7=2+5\n"
OUTCOMES = ("corrected", "unchanged", "other")
PAPER_STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass
class InterventionReport:
    generations: pd.DataFrame  # item, equation, layer, strength, continuation, answer, outcome, solved
    rates: pd.DataFrame  # layer, strength, outcome, rate, n (over items solved unsteered)
    base_accuracy: float
    n_items: int
    n_solved: int
    notes: list[str] = field(default_factory=list)


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


def plus_one_intervention(
    model: "HubModel",
    n: int = 40,
    seed: int = 0,
    layers: Sequence[int] = (),
    strengths: Sequence[float] = PAPER_STRENGTHS,
    few_shot: bool = False,
    lang: str = "en",
    max_new_tokens: int = 3,
    max_b: int = 98,
    progress: Optional[Progress] = None,
) -> InterventionReport:
    """§4 / Fig. 12a: add s x (h_l("a equals to b+1 plus") - h_l("a equals to b plus")) at the
    last position of the prompt "a=b+" at layer l, greedy-decode, and classify the answer.

    Every strength of a layer runs as one batched generation. Outcome rates are computed on the
    items the model solves unsteered (strength 0), since an answer that is wrong to begin with
    cannot show the effect; the unsteered accuracy is reported beside them.
    """
    from ..steering import hidden_difference, sweep_generate

    layers = list(layers) or [max(1, model.num_layers // 2)]
    if any(l < 0 or l > model.num_layers for l in layers):
        raise InputError(f"Layers must lie in 0..{model.num_layers}.")
    strengths = sorted(set(float(s) for s in strengths) | {0.0})
    exprs = [e for e in sample_expressions(846, seed=seed, ops=("+",))
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
    return InterventionReport(generations=gen, rates=rates, base_accuracy=len(solved_items) / len(exprs),
                              n_items=len(exprs), n_solved=len(solved_items), notes=notes)
