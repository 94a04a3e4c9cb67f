"""Lens experiments beyond the logit lens: training the tuned lens and measuring how well each
lens reads the model's own final distribution.

- `tune-lens`: train the tuned lens's per-layer translators on the registry-package corpus
  (`data.lens_corpus`) and cache them for the model (`tuned_lens`); the table is the training
  curve (KL estimate per layer and epoch).
- `lens-quality`: KL(final || lens) per layer on held-out text, with a 95% bootstrap CI over
  texts, for the logit and the tuned lens (the tuned-lens paper's Figure: tuned below logit at
  almost every layer is what to expect). Exact over the whole vocabulary, computed in the trace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.lens_corpus import corpus
from ..data.uploads import parse_texts
from ..errors import InputError
from ..lens import kl_to_final
from ..progress import Progress, report, scaled
from ..stats import bootstrap_ci
from ..tokens import encode
from ..tuned_lens import DEFAULT_EPOCHS, DEFAULT_TOKENS, save_translators, train_translators
from .registry import Param, experiment, read_input
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle

HELD_OUT = "held-out"
QUALITY_COLUMNS = ("layer", "lens", "kl", "ci_low", "ci_high", "n")
QUALITY_LENSES = ("logit", "tuned")


# ------------------------------------------------------------------------------ tune-lens

def _tune_report(res: Result) -> list[str]:
    secs = res.seconds
    return [f"trained on {res.tokens:,} tokens ({', '.join(f'{k} {v}' for k, v in res.sources.items())}) "
            f"in {secs['total'] / 60:.1f} min (capture {secs['capture']:.0f} s, final distributions "
            f"{secs['final_distributions']:.0f} s, least squares {secs['least_squares']:.0f} s, KL "
            f"training {secs['kl_training']:.0f} s, {res.threads} threads)",
            f"translators cached at {res.path}"]


@experiment(
    name="tune-lens",
    summary="train the tuned lens's per-layer translators for the model (cached)",
    description="Train one affine translator per layer (Belrose et al. 2023) so each layer reads "
                "like the model's final distribution: a least-squares start, then Adam on KL(final || "
                "lens), on text from registry packages (HSK zh/en, Asterisk en/es/fr, emoji labels, "
                "handwritten de/ja, HumanEval). Runs on this machine; the translators are cached per "
                "model and used by every --lens tuned. With --out, writes the training curve "
                "epoch,layer,kl_estimate.",
    page="logit_lens",
    tables=(Table("history", ("epoch", "layer", "kl_estimate"),
                  "training-set KL estimate per layer; epoch 0 = the least-squares start"),),
    params=(Param("tokens", "corpus tokens to train on", type=int, low=256, high=2_000_000, metavar="N"),
            Param("epochs", "passes of Adam over those tokens after the least-squares start", type=int,
                  low=0, high=50),
            Param("seed", "seed of the batches and vocabulary samples", type=int)),
    report=_tune_report,
)
def tune_lens(
    model: "Handle",
    tokens: int = DEFAULT_TOKENS,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> Result:
    """Train and cache `model`'s tuned-lens translators; the Result holds the training curve and
    the run's facts (tokens, sources, seconds per stage, where the translators went)."""
    notes = []
    if model.remote != "off":
        notes.append("Training runs on this machine with the model's local weights (remote targets "
                     "apply to readings only); the tuned lens then reads remotely too.")
    tr, history = train_translators(model, tokens=int(tokens), epochs=int(epochs), seed=int(seed),
                                    progress=scaled(progress, 0.0, 0.99))
    path = save_translators(model, tr)
    report(progress, 1.0, "Tuned lens saved")
    meta = tr.meta
    return result("tune-lens", {"history": history}, notes, tokens=meta["tokens"], sources=meta["sources"],
                  seconds=meta["seconds"], threads=meta["threads"], path=str(path),
                  num_layers=model.num_layers)


# ---------------------------------------------------------------------------- lens-quality

def quality_texts(source: str, max_texts: int) -> tuple[list[str], list[str]]:
    """The texts of a quality run: 'held-out' (the corpus part `tune-lens` never trains on) or a
    UTF-8 file (one text per line), at most `max_texts` of them."""
    if source == HELD_OUT:
        texts = [t.text for t in corpus(HELD_OUT)]
        notes = [f"{min(len(texts), max_texts)} of the {len(texts):,} held-out corpus texts (the tune-lens "
                 "corpus's held-out tenth, interleaved over its sources)."]
        return texts[:max_texts], notes
    return parse_texts(read_input(source), source, max_rows=max_texts)


def _quality_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    lenses = tuple(values.get("lens") or QUALITY_LENSES)
    bad = [x for x in lenses if x not in QUALITY_LENSES]
    if bad:
        raise InputError(f"lens-quality compares {' and '.join(QUALITY_LENSES)}; '{bad[0]}' reads another "
                         "question (the patchscope decodes what a state stands for, not the next token).")
    texts, notes = quality_texts(str(values.get("texts") or HELD_OUT), int(values.get("max_texts") or 48))
    return {"texts": tuple(texts), "lenses": tuple(dict.fromkeys(lenses)), "n_boot": int(values["n_boot"]),
            "seed": int(values["seed"])}, notes


def _quality_report(res: Result) -> list[str]:
    return list(res.notes[-1:]) if res.notes else []


@experiment(
    name="lens-quality",
    summary="KL(final || lens) per layer on held-out text, logit vs tuned lens",
    description="How far each layer's reading is from the model's own next-token distribution: the "
                "mean KL in nats over every position but BOS, per layer, with a 95% bootstrap CI "
                "over texts; exact over the whole vocabulary. Writes layer,lens,kl,ci_low,ci_high,n.",
    page="logit_lens",
    tables=(Table("quality", QUALITY_COLUMNS, "mean KL(final || lens) per layer and lens"),),
    params=(Param("texts", "UTF-8 file with one text per line, or 'held-out' (the tune-lens corpus's "
                  "held-out texts)", default=HELD_OUT, arg="", metavar="FILE|held-out"),
            Param("lens", "lenses to compare, comma-separated", many="comma", choices=QUALITY_LENSES,
                  default=QUALITY_LENSES, arg="", metavar="LENS,LENS"),
            Param("max_texts", "texts used (the first ones)", type=int, default=48, arg="", low=1,
                  high=100_000, metavar="N"),
            Param("n_boot", "bootstrap resamples", type=int, flag="--bootstrap", low=0, high=100_000,
                  metavar="N"),
            Param("seed", "bootstrap seed", type=int)),
    prepare=_quality_inputs,
    report=_quality_report,
)
def lens_quality(
    model: "Handle",
    texts: Sequence[str],
    lenses: Sequence[str] = QUALITY_LENSES,
    n_boot: int = 1000,
    seed: int = 0,
    progress: Optional[Progress] = None,
) -> Result:
    """KL(final || lens) per layer and lens; values `per_text` (lens -> `[n_texts, L + 1]`) and
    `tuned_below` (layers where the tuned lens's CI lies wholly below the logit lens's)."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise InputError("No texts: give at least one non-empty text.")
    encoded = [e for e in encode(model.tokenizer, texts) if len(e) >= 2]
    if not encoded:
        raise InputError("Every text is a single token: KL needs at least one token after the first.")
    rows, per_text = [], {}
    for i, lens in enumerate(lenses):
        arr = kl_to_final(model, encoded, lens, progress=scaled(progress, i / len(lenses), (i + 1) / len(lenses)))
        per_text[lens] = arr
        mean, lo, hi = bootstrap_ci(arr, np.arange(len(arr)), n_boot=n_boot, seed=seed)
        rows += [(layer, lens, float(mean[layer]), float(lo[layer]), float(hi[layer]), len(arr))
                 for layer in range(arr.shape[1])]
    table = pd.DataFrame(rows, columns=list(QUALITY_COLUMNS))
    notes: list[str] = []
    below: list[int] = []
    if "logit" in per_text and "tuned" in per_text:
        lg = table[table["lens"] == "logit"].set_index("layer")
        tu = table[table["lens"] == "tuned"].set_index("layer")
        top = model.num_layers
        below = [int(layer) for layer in lg.index if layer < top and tu.loc[layer, "ci_high"] < lg.loc[layer, "ci_low"]]
        not_below = [int(layer) for layer in lg.index if layer < top and layer not in below]
        notes.append(f"The tuned lens is closer to the final distribution than the logit lens at {len(below)} of "
                     f"{top} layers (CIs apart)" + (f"; not at layers {', '.join(map(str, not_below))}." if not_below
                                                   else ".") + f" Layer {top} is the model's own output for both.")
    report(progress, 1.0, "Done")
    return result("lens-quality", {"quality": table}, notes, per_text=per_text, tuned_below=below,
                  n_texts=len(encoded), n_tokens=int(sum(len(e) - 1 for e in encoded)),
                  num_layers=model.num_layers)
