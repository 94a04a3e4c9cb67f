"""Multilingual experiments (paper §3.1): translation similarity per layer, and the language of
each layer's logit-lens reading (Figure 4). The anchoring experiment (Eq. 3) lives in
experiments/anchoring.py. Each function serves both the Multilingual page and the CLI
(`similarity`, `languages`), registered with the registry and returning a `Result`.

Inputs are named the same way everywhere: `--pairs` / `--texts` take a file path or the name of
a built-in set (`hubcore.data.parallel.available_pair_sets`), so the page's "reproduce this run"
command for a built-in set runs as is; an uploaded file appears under its own name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.parallel import PairSet, pair_source, set_names, text_source
from ..errors import InputError
from ..langprob import check_languages, language_mix
from ..lens import lens_at
from ..progress import Progress, report, scaled
from ..similarity import COLUMNS as SIMILARITY_COLUMNS
from ..similarity import METRICS, pair_similarity
from ..stats import bootstrap_ci
from ..tokens import encode
from ..trace import capture
from .lens_param import LENS, checked_lens
from .registry import Param, experiment
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

# The paper's templates keep the model from code-switching: "{sentence} This represents" and its
# translation; "{}" marks where the input goes.
TEMPLATES: dict[str, str] = {
    "en": "{} This represents",
    "zh": "{} 这代表",
    "es": "{} Esto representa",
    "fr": "{} Cela représente",
    "de": "{} Das bedeutet",
    "ja": "{} これは表す",
}
LANGPROB_COLUMNS = ["layer", "language", "prob", "ci_low", "ci_high"]
# values key for an uploaded file's bytes (the page); the source parameter then holds its name
UPLOAD = "upload"
MAX_BOOT = 100_000


def apply_template(template: str, text: str) -> str:
    """Put `text` where the template has "{}" (also accepts "{sentence}")."""
    t = template.replace("{sentence}", "{}")
    if t.count("{}") != 1:
        raise InputError(f"Template '{template}' must contain exactly one {{}} where the input goes.")
    return t.replace("{}", text.strip())


def usable_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Pairs with text on both sides; at least two (the baseline is the non-matching pairs)."""
    kept = [(a, b) for a, b in pairs if a and b and a.strip() and b.strip()]
    if len(kept) < 2:
        raise InputError("At least two non-empty pairs are needed (the baseline is the non-matching pairs).")
    return kept


# ------------------------------------------------------------------ inputs (CLI + page)

def read_pairs(values: dict[str, Any]) -> tuple[PairSet, list[str]]:
    """The run's pairs from `values["pairs"]` (a file, a built-in set, or an upload's name with
    its bytes under `UPLOAD`), sampled to `values["max_pairs"]`."""
    if not values.get("pairs"):
        raise InputError("Give pairs: a two-column file or the name of a built-in set.")
    return pair_source(str(values["pairs"]), int(values["max_pairs"]), values.get(UPLOAD))


def read_texts(values: dict[str, Any]) -> tuple[list[str], str, list[str]]:
    """(texts, language of a built-in set or "", notes) from `values["texts"]`, sampled to
    `values["max_texts"]`; the text experiments (anchoring, languages) share it."""
    if not values.get("texts"):
        raise InputError("Give texts: a file with one text per line or the name of a built-in set.")
    return text_source(str(values["texts"]), int(values["max_texts"]), values.get(UPLOAD))


def bootstrap_params(*, seed_help: str = "bootstrap seed") -> tuple[Param, Param]:
    """`--bootstrap N` and `--seed`, the same in every multilingual command."""
    return (Param("n_boot", "bootstrap resamples", type=int, flag="--bootstrap", low=0, high=MAX_BOOT,
                  metavar="N"),
            Param("seed", seed_help, type=int))


def texts_param() -> Param:
    return Param("texts", "UTF-8 text file, one text per line, or a built-in set (its first column): "
                 + set_names(), required=True, arg="", metavar="FILE|SET")


def _similarity_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Read and sample the pairs and check both templates before any model loads."""
    pset, notes = read_pairs(values)
    for template in (values["template_a"], values["template_b"]):
        apply_template(template, "x")
    return {"pairs": tuple(usable_pairs(pset.pairs)), "template_a": values["template_a"],
            "template_b": values["template_b"], "n_boot": int(values["n_boot"]),
            "seed": int(values["seed"])}, notes


@experiment(
    name="similarity",
    summary="translation similarity per layer (paper Fig. 3)",
    description="Per-layer cosine similarity of paired inputs (last token of each templated text), "
                "matched minus non-matching, raw and centred, with bootstrap CIs and retrieval@1. "
                "Writes the columns layer,metric,matched,baseline,adjusted,ci_low,ci_high,retrieval_at_1.",
    page="multilingual",
    tables=(Table("curves", tuple(SIMILARITY_COLUMNS),
                  "matched vs non-matching cosine per layer and metric, with retrieval@1"),),
    params=(Param("pairs", "two-column UTF-8 TSV (A<TAB>B, no header) or CSV, or a built-in set: "
                  + set_names(), required=True, arg="", metavar="FILE|SET"),
            Param("template_a", "template for side A, {} = the text (paper: '{} This represents')"),
            Param("template_b", "template for side B (e.g. '{} 这代表')"),
            *bootstrap_params(),
            Param("max_pairs", "larger files and sets are randomly sampled to this many pairs",
                  type=int, default=5000, arg="", low=2, high=MAX_BOOT, metavar="N")),
    prepare=_similarity_inputs,
)
def translation_similarity(
    model: "HubModel",
    pairs: Sequence[tuple[str, str]],
    template_a: str = "{}",
    template_b: str = "{}",
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] = METRICS,
    progress: Optional[Progress] = None,
) -> Result:
    """Cosine similarity of paired inputs' last-token states per layer, matched vs non-matching.

    Each side is wrapped in its template first (the paper's "{} This represents" and its
    translation), and the state of the template's last token is compared.
    """
    pairs = usable_pairs(pairs)
    side_a = [apply_template(template_a, a) for a, _ in pairs]
    side_b = [apply_template(template_b, b) for _, b in pairs]
    a = capture(model, side_a, positions="last", progress=scaled(progress, 0.0, 0.45)).stacked()
    b = capture(model, side_b, positions="last", progress=scaled(progress, 0.45, 0.9)).stacked()
    report(progress, 0.92, "Bootstrapping confidence intervals")
    curves = pair_similarity(a, b, metrics=metrics, n_boot=n_boot, seed=seed)
    report(progress, 1.0, "Done")
    return result("similarity", {"curves": curves}, n_pairs=len(pairs))


def _languages_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Check the language codes and read the texts before any model loads."""
    langs = check_languages(values["languages"] or ())
    texts, _, notes = read_texts(values)
    return {"texts": tuple(texts), "languages": tuple(langs), "raw": bool(values.get("raw")),
            "n_boot": int(values["n_boot"]), "seed": int(values["seed"]),
            "lens": checked_lens(values.get("lens") or "logit", bool(values.get("raw")))}, notes


@experiment(
    name="languages",
    summary="language of the lens reading per layer (paper Fig. 4)",
    description="p(language | h) per layer from word-frequency lists, averaged over positions and "
                "texts. Writes layer,language,prob,ci_low,ci_high (languages plus 'other').",
    page="multilingual",
    tables=(Table("curves", tuple(LANGPROB_COLUMNS),
                  "p(language | h) per layer, the chosen languages plus 'other'"),),
    params=(texts_param(),
            Param("languages", "comma-separated codes", many="comma", metavar="CODE,CODE"),
            Param("raw", "skip the final norm (the paper's code)", switch=True),
            *bootstrap_params(),
            Param("max_texts", "sample larger files and sets", type=int, default=500, arg="",
                  low=1, high=MAX_BOOT, metavar="N"),
            LENS),
    prepare=_languages_inputs,
)
def language_probabilities(
    model: "HubModel",
    texts: Sequence[str],
    languages: Sequence[str] = ("en", "zh"),
    n_words: int = 5000,
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """p(language | h) per layer, averaged over the positions of each text (special tokens
    excluded), then over texts with a 95% bootstrap CI over texts.

    Values: `per_text` `[n_texts, n_layers, n_languages + 1]`, `languages` (names, "other"
    last) and `n_positions`.
    """
    langs = check_languages(languages)
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise InputError("No texts: give at least one non-empty text.")
    report(progress, 0.0, "Building p(language | token) tables")
    mix = language_mix(model.tokenizer, model.card.vocab, langs, n_words)
    encoded = encode(model.tokenizer, texts)
    special = set(model.tokenizer.all_special_ids)
    keep = [[i for i, t in enumerate(e.ids) if t not in special] for e in encoded]
    if not any(keep):
        raise InputError("The texts contain no ordinary tokens.")
    import torch

    out = lens_at(model, encoded, positions=[k or [len(e) - 1] for k, e in zip(keep, encoded)],
                  top_k=1, apply_norm=not raw, mix=mix, progress=scaled(progress, 0.05, 1.0),
                  lens=checked_lens(lens, raw))
    sizes = list(out.sizes or [])
    per_text = []
    for chunk in torch.split(out.mixed, sizes, dim=1):  # [n_layers, P_i, n_langs]
        probs = chunk.mean(dim=1).numpy()
        other = np.clip(1.0 - probs.sum(axis=1, keepdims=True), 0.0, 1.0)
        per_text.append(np.concatenate([probs, other], axis=1))
    n_pos = sum(sizes)
    arr = np.stack(per_text)  # [T, n_layers, n_langs + 1]
    names = langs + ["other"]
    flat = arr.reshape(len(arr), -1)
    mean, lo, hi = (x.reshape(arr.shape[1:]) for x in
                    bootstrap_ci(flat, np.arange(len(arr)), n_boot=n_boot, seed=seed))
    rows = [(layer, names[j], float(mean[layer, j]), float(lo[layer, j]), float(hi[layer, j]))
            for layer in range(mean.shape[0]) for j in range(len(names))]
    return result("languages", {"curves": pd.DataFrame(rows, columns=LANGPROB_COLUMNS)},
                  per_text=arr, languages=names, n_positions=n_pos)
