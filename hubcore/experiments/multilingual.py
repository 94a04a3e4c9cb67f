"""Multilingual experiments (paper §3.1): translation similarity per layer, and the language of
each layer's logit-lens reading (Figure 4). The anchoring experiment (Eq. 3) lives in
experiments/anchoring.py. Each function serves both the Multilingual page and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..langprob import check_languages, language_mix
from ..lens import lens_at
from ..progress import Progress, report, scaled
from ..similarity import METRICS, pair_similarity
from ..stats import bootstrap_ci
from ..tokens import encode
from ..trace import capture

if TYPE_CHECKING:
    from ..models import HubModel

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


def apply_template(template: str, text: str) -> str:
    """Put `text` where the template has "{}" (also accepts "{sentence}")."""
    t = template.replace("{sentence}", "{}")
    if t.count("{}") != 1:
        raise InputError(f"Template '{template}' must contain exactly one {{}} where the input goes.")
    return t.replace("{}", text.strip())


@dataclass
class SimilarityReport:
    curves: pd.DataFrame  # layer,metric,matched,baseline,adjusted,ci_low,ci_high,retrieval_at_1
    n_pairs: int
    notes: list[str] = field(default_factory=list)


def translation_similarity(
    model: "HubModel",
    pairs: Sequence[tuple[str, str]],
    template_a: str = "{}",
    template_b: str = "{}",
    n_boot: int = 1000,
    seed: int = 0,
    metrics: Sequence[str] = METRICS,
    progress: Optional[Progress] = None,
) -> SimilarityReport:
    """Cosine similarity of paired inputs' last-token states per layer, matched vs non-matching.

    Each side is wrapped in its template first (the paper's "{} This represents" and its
    translation), and the state of the template's last token is compared.
    """
    pairs = [(a, b) for a, b in pairs if a and b and a.strip() and b.strip()]
    if len(pairs) < 2:
        raise InputError("At least two non-empty pairs are needed (the baseline is the non-matching pairs).")
    side_a = [apply_template(template_a, a) for a, _ in pairs]
    side_b = [apply_template(template_b, b) for _, b in pairs]
    a = capture(model, side_a, positions="last", progress=scaled(progress, 0.0, 0.45)).stacked()
    b = capture(model, side_b, positions="last", progress=scaled(progress, 0.45, 0.9)).stacked()
    report(progress, 0.92, "Bootstrapping confidence intervals")
    curves = pair_similarity(a, b, metrics=metrics, n_boot=n_boot, seed=seed)
    report(progress, 1.0, "Done")
    return SimilarityReport(curves=curves, n_pairs=len(pairs))


@dataclass
class LanguageReport:
    curves: pd.DataFrame  # layer, language, prob, ci_low, ci_high (languages + "other")
    per_text: np.ndarray  # [n_texts, n_layers, n_languages + 1]
    languages: list[str]
    n_positions: int


def language_probabilities(
    model: "HubModel",
    texts: Sequence[str],
    languages: Sequence[str] = ("en", "zh"),
    n_words: int = 5000,
    raw: bool = False,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> LanguageReport:
    """p(language | h) per layer, averaged over the positions of each text (special tokens
    excluded), then over texts with a 95% bootstrap CI over texts."""
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
                  top_k=1, apply_norm=not raw, mix=mix, progress=scaled(progress, 0.05, 1.0))
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
    return LanguageReport(curves=pd.DataFrame(rows, columns=LANGPROB_COLUMNS), per_text=arr,
                          languages=names, n_positions=n_pos)
