"""The checkup's battery: which registered experiments it runs, with which small CLI-level values
per budget, and how each result is read into the one effect curve its verdict judges.

Every check runs registered experiments through the registry (`find(name)`, `call_kwargs`,
`exp.func`), never their internals, so a check's numbers are the ones its page and its CLI command
give for the same values (each check carries that command). A `Reading` holds the curves the
report draws (measure x series x layer or coefficient, with 95% CIs) and the effect curve the
verdict reads: an estimate with its CI against a baseline (zero, or chance for retrieval@1) in the
direction the paper predicts (`hubcore.verdicts.predicted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..stats import bootstrap_ci, wilson_interval
from .logit_lens import EXAMPLES
from .multilingual import TEMPLATES
from .page_defaults import HSK, page_values
from .result import Result

if TYPE_CHECKING:
    from ..models.handle import Handle

BUDGETS = ("fast", "full")
NATS = "log-probability difference (nats)"
SEED = 0
ES_EN = "Spanish–English (Asterisk prompts)"
CURVE_COLUMNS = ("check", "measure", "unit", "series", "axis", "x", "value", "ci_low", "ci_high", "baseline")
EFFECT_COLUMNS = ("check", "axis", "x", "estimate", "ci_low", "ci_high", "baseline")

# The paper's Chinese example and its counterparts: (text, English word, the input language's word);
# zh, es and fr are the Logit Lens page's own examples.
LENS_EXAMPLES: dict[str, tuple[str, str, str]] = {
    "zh": (EXAMPLES["Chinese (paper's example)"][0], *EXAMPLES["Chinese (paper's example)"][1]),
    "es": (EXAMPLES["Spanish"][0], *EXAMPLES["Spanish"][1]),
    "fr": (EXAMPLES["French"][0], *EXAMPLES["French"][1]),
    "de": ("Heute ist ein schöner", "day", "Tag"),
    "ja": ("今日は楽しい一", "day", "日"),
}


@dataclass
class Reading:
    """What one check measured: curves to draw and the effect curve its verdict reads.

    `curves`: rows (measure, series, x, value, ci_low, ci_high, baseline); `effect`: rows (x,
    estimate, ci_low, ci_high, baseline); `a` / `b`: how the verdict sentence names the effect and
    its baseline; `facts`: the summary's numbers (hub layer, English peak, steering shift ...).
    """

    curves: pd.DataFrame
    effect: pd.DataFrame
    a: str
    b: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One line of the battery: a registered experiment, its values per budget, its reading.

    `runs(budget)` gives the CLI-level values of each run (the lens check runs five texts);
    `axis` is "layer" (the verdict reads layers `first`..L-1) or "coef" (every coefficient);
    `margin`: the smallest effect that counts, in the measure's units (`MARGINS`); `reference`:
    what the effect is compared with, in words; `weight`: the check's share of the progress bar.
    """

    key: str
    title: str
    experiment: str
    claim: str
    runs: Callable[[str], list[dict[str, Any]]]
    read: Callable[[Sequence[Result], "Handle"], Reading]
    margin: float
    reference: str
    units: str = ""  # how the margin is read: " nat" for log-probabilities
    axis: str = "layer"
    first: int = 1
    weight: float = 1.0


def _rows(measure: str, series: str, xs: Sequence[Any], value: Sequence[float], low: Sequence[float] | None = None,
          high: Sequence[float] | None = None, baseline: float = float("nan"), unit: str = "") -> pd.DataFrame:
    """Curve rows of one series; `measure` titles its chart, `unit` labels the y axis."""
    n = len(xs)
    nan = [float("nan")] * n
    return pd.DataFrame({"measure": measure, "unit": unit, "series": series, "x": list(xs),
                         "value": np.asarray(value, float), "ci_low": np.asarray(nan if low is None else low, float),
                         "ci_high": np.asarray(nan if high is None else high, float), "baseline": baseline})


def _effect(xs: Sequence[Any], estimate: Sequence[float], low: Sequence[float], high: Sequence[float],
            baseline: Any = 0.0) -> pd.DataFrame:
    return pd.DataFrame({"x": list(xs), "estimate": np.asarray(estimate, float), "ci_low": np.asarray(low, float),
                         "ci_high": np.asarray(high, float),
                         "baseline": np.broadcast_to(np.asarray(baseline, float), (len(xs),))})


def _by(budget: str, fast: Any, full: Any) -> Any:
    return fast if budget == "fast" else full


# ---------------------------------------------------------------- 1. logit lens on the examples

def _lens_runs(budget: str) -> list[dict[str, Any]]:
    return [{"text": text, "top_k": 1, "targets": [en, own], "raw": False}
            for text, en, own in LENS_EXAMPLES.values()]


def _lens_read(results: Sequence[Result], model: "Handle") -> Reading:
    """At each example's last position: log p(English word) - log p(the input language's word),
    each the better of its surface forms; mean over the examples with a bootstrap CI."""
    diffs, parts = [], []
    for (lang, (_, en, own)), res in zip(LENS_EXAMPLES.items(), results):
        t = res.targets
        last = t[t["position"] == t["position"].max()]
        best = last.groupby(["layer", "target"])["logprob"].max().unstack()
        d = (best[en] - best[own]).sort_index()
        diffs.append(d.to_numpy())
        parts.append(_rows("log p(English word) − log p(input-language word), per example", lang,
                           d.index, d.to_numpy(), baseline=0.0, unit=NATS))
    arr = np.stack(diffs)
    layers = list(range(arr.shape[1]))
    mean, lo, hi = bootstrap_ci(arr, np.arange(len(arr)), n_boot=1000, seed=SEED)
    measure = f"log p(English word) − log p(input-language word), mean of {len(arr)} examples"
    curves = pd.concat([_rows(measure, "mean", layers, mean, lo, hi, 0.0, NATS), *parts], ignore_index=True)
    return Reading(curves, _effect(layers, mean, lo, hi), "the English word", "the input-language word")


# ---------------------------------------------------------------- 2. translation similarity

def _similarity_runs(pairs: str, lang: str, page: bool) -> Callable[[str], list[dict[str, Any]]]:
    def runs(budget: str) -> list[dict[str, Any]]:
        # Zh-En opens like the Multilingual page (same sample), so its hub is the one the page shows
        base = dict(page_values("similarity")) if page else {}
        base.update({"pairs": pairs, "template_a": TEMPLATES[lang], "template_b": TEMPLATES["en"],
                     "n_boot": 1000, "seed": SEED, "max_pairs": _by(budget, 100, 300)})
        return [base]

    return runs


def _similarity_read(results: Sequence[Result], model: "Handle") -> Reading:
    """Centred matched - non-matching cosine (the verdict) and retrieval@1 with a Wilson CI; the
    hub = the layer where centred retrieval@1 peaks, if retrieval beats chance (see `hub`)."""
    res = results[0]
    c = res.curves
    n = int(res.n_pairs)
    chance = 1.0 / n
    cen = c[c["metric"] == "centered"].sort_values("layer")
    ref = max(0.0, _first_block(cen["layer"], cen["ci_high"]))
    parts = []
    for metric in ("raw", "centered"):  # the dashed line: the centred curve's reference, as the verdict reads it
        m = c[c["metric"] == metric].sort_values("layer")
        parts.append(_rows("matched − non-matching cosine", metric, m["layer"], m["adjusted"], m["ci_low"],
                           m["ci_high"], ref if metric == "centered" else float("nan"), "cosine difference"))
    for metric in ("raw", "centered"):
        m = c[c["metric"] == metric].sort_values("layer")
        lo, hi = wilson_interval(np.rint(m["retrieval_at_1"].to_numpy() * n), n)
        parts.append(_rows("retrieval@1", metric, m["layer"], m["retrieval_at_1"], lo, hi, chance, "retrieval@1"))
    best = cen.loc[cen["adjusted"].idxmax()]
    facts = {"n_pairs": n, "chance": chance,
             "gap": {"layer": int(best["layer"]), "value": float(best["adjusted"]),
                     "ci_low": float(best["ci_low"]), "ci_high": float(best["ci_high"])}}
    return Reading(pd.concat(parts, ignore_index=True),
                   _effect(cen["layer"], cen["adjusted"], cen["ci_low"], cen["ci_high"], ref),
                   "the centred similarity of translations (matched − non-matching)", "its value after the first block",
                   facts)


def _first_block(layers: pd.Series, upper: pd.Series) -> float:
    """The reference of the similarity checks: the upper 95% bound after block 1, where shared
    tokens already make translations alike (a random-weight model reaches +0.25 centred on Es-En)."""
    at = upper[layers.to_numpy() == 1]
    return float(at.iloc[0]) if len(at) else 0.0


def retrieval_effect(reading: Reading) -> pd.DataFrame:
    """The hub's effect curve: centred retrieval@1 (Wilson CI) per layer, against chance or its
    value after the first block, whichever is higher."""
    c = reading.curves
    r = c[(c["measure"] == "retrieval@1") & (c["series"] == "centered")]
    ref = max(float(r["baseline"].iloc[0]), _first_block(r["x"], r["ci_high"]))
    return _effect(r["x"], r["value"], r["ci_low"], r["ci_high"], ref)


# ---------------------------------------------------------------- 3. language of the lens reading

def _languages_runs(budget: str) -> list[dict[str, Any]]:
    return [{"texts": HSK, "languages": ["en", "zh"], "raw": False, "n_boot": 1000, "seed": SEED,
             "max_texts": _by(budget, 12, 60)}]


def _languages_read(results: Sequence[Result], model: "Handle") -> Reading:
    """English's share of the lens reading per layer; the verdict reads its rise over the output
    layer's share (paired per text): the hub predicts English mid-network, Chinese at the output."""
    res = results[0]
    c = res.curves
    parts = [_rows("share of the lens reading (Chinese text)", lang, g["layer"], g["prob"], g["ci_low"],
                   g["ci_high"], unit="share") for lang, g in c.sort_values("layer").groupby("language", sort=False)]
    per = np.asarray(res.per_text)  # [texts, layers, languages + other]
    en = list(res.languages).index("en")
    rise = per[:, :, en] - per[:, -1:, en]
    layers = list(range(per.shape[1]))
    mean, lo, hi = bootstrap_ci(rise, np.arange(len(per)), n_boot=1000, seed=SEED)
    parts.append(_rows("English share minus its share at the last layer", "en", layers, mean, lo, hi, 0.0,
                       "share difference"))
    en_curve = c[c["language"] == "en"].sort_values("layer")
    peak = en_curve.loc[en_curve["prob"].idxmax()]
    facts = {"english_peak_layer": int(peak["layer"]), "english_peak_share": float(peak["prob"])}
    return Reading(pd.concat(parts, ignore_index=True), _effect(layers, mean, lo, hi),
                   "English's share of the lens reading", "its share at the last layer", facts)


# ---------------------------------------------------------------- 4. English anchoring (Eq. 3)

def _anchoring_runs(budget: str) -> list[dict[str, Any]]:
    return [{"texts": HSK, "lang": "zh", "lexicon": None, "raw": False, "n_boot": 1000, "seed": SEED,
             "max_texts": _by(budget, 40, 100)}]


def _difference_read(a: str, b: str, measure: str) -> Callable[[Sequence[Result], "Handle"], Reading]:
    """For experiments with a `difference` table (a - b per layer with a bootstrap CI)."""
    def read(results: Sequence[Result], model: "Handle") -> Reading:
        d = results[0].difference.sort_values("layer")
        curves = _rows(measure, f"{a} − {b}", d["layer"], d["mean_diff"], d["ci_low"], d["ci_high"], 0.0, NATS)
        return Reading(curves, _effect(d["layer"], d["mean_diff"], d["ci_low"], d["ci_high"]), a, b)

    return read


# ---------------------------------------------------------------- 5. arithmetic buckets (Fig. 5a/b)

def _arithmetic_runs(budget: str) -> list[dict[str, Any]]:
    return [{"n": _by(budget, 100, 300), "seed": SEED, "lang": "en", "n_boot": 1000}]


def _arithmetic_read(results: Sequence[Result], model: "Handle") -> Reading:
    """Centred cosine of 'b+c' vs 'b plus c' by bucket; the verdict reads exact translation minus
    the rest (same and different value)."""
    c = results[0].curves
    cen = c[c["metric"] == "centered"].sort_values("layer")
    parts = [_rows("centred cosine, numeral vs word expressions", bucket, g["layer"], g["mean"], g["ci_low"],
                   g["ci_high"], unit="centred cosine")
             for bucket, g in cen.groupby("bucket", sort=False) if bucket != "exact_minus_rest"]
    e = cen[cen["bucket"] == "exact_minus_rest"]
    parts.append(_rows("exact translation minus the rest (centred cosine)", "exact − rest", e["layer"], e["mean"],
                       e["ci_low"], e["ci_high"], 0.0, "cosine difference"))
    return Reading(pd.concat(parts, ignore_index=True), _effect(e["layer"], e["mean"], e["ci_low"], e["ci_high"]),
                   "the centred cosine of exact translations", "that of the other pairs")


# ---------------------------------------------------------------- 6. code: list commas (Fig. 8a)

def _code_runs(budget: str) -> list[dict[str, Any]]:
    return [{"source": "humaneval", "sites": "all", "extra_words": [], "raw": False, "n_boot": 1000,
             "max_programs": _by(budget, 20, 164)}]


# ---------------------------------------------------------------- 7. a small ActAdd sweep (§4)

def _actadd_runs(budget: str) -> list[dict[str, Any]]:
    return [{"prompt_set": "es-prefixes", "n": _by(budget, 4, 8), "presets": "en", "layers": None,
             "coefs": [-16.0, -8.0, 0.0, 8.0, 16.0],
             "seeds": _by(budget, 1, 2), "max_new_tokens": _by(budget, 16, 32), "lang": "es", "n_boot": 1000}]


def _actadd_read(results: Sequence[Result], model: "Handle") -> Reading:
    """Sentiment shift of each coefficient against the unsteered text, paired per prompt (seeds
    averaged), bootstrap over prompts. The verdict reads the shift in the steered direction
    (sign(coef) x shift): Good - Bad should raise sentiment at positive coefficients, lower it
    at negative ones."""
    rows = results[0].rows
    per = rows.groupby(["pair", "layer", "coef", "prompt"])["sentiment"].mean().reset_index()
    parts, effect, best = [], [], None
    for (pair, layer), g in per.groupby(["pair", "layer"]):
        base = g[g["coef"] == 0].set_index("prompt")["sentiment"]
        xs, est, lo, hi = [0.0], [0.0], [0.0], [0.0]  # coefficient 0: the unsteered text itself
        for coef, gc in g[g["coef"] != 0].groupby("coef"):
            d = (gc.set_index("prompt")["sentiment"] - base).dropna()
            m, l, h = bootstrap_ci(d.to_numpy(), np.arange(len(d)), n_boot=1000, seed=SEED)
            xs.append(float(coef))
            est.append(float(m[0]))
            lo.append(float(l[0]))
            hi.append(float(h[0]))
            s = np.sign(coef)
            signed = (s * m[0], *sorted((s * l[0], s * h[0])))
            effect.append((float(coef), *signed))
            if best is None or signed[0] > best["intended"]:
                best = {"pair": pair, "layer": int(layer), "coef": float(coef), "shift": float(m[0]),
                        "ci_low": float(l[0]), "ci_high": float(h[0]), "intended": float(signed[0])}
        parts.append(_rows("sentiment shift vs unsteered", pair, xs, est, lo, hi, 0.0,
                           "sentiment shift").sort_values("x"))
    eff = pd.DataFrame(effect, columns=["x", "estimate", "ci_low", "ci_high"]).sort_values("x")
    return Reading(pd.concat(parts, ignore_index=True),
                   _effect(eff["x"], eff["estimate"], eff["ci_low"], eff["ci_high"]),
                   "the sentiment shift in the steered direction", "zero", {"steering": best})


# the smallest effect that counts, per unit (see `Check.margin` and `hubcore.verdicts.predicted`)
MARGINS = {"nats": 1.0, "cosine": 0.05, "share": 0.05, "retrieval": 0.05, "sentiment": 0.05}
ZERO = "zero"
FIRST_BLOCK = "its value after the first block (upper 95% bound)"

CHECKS: tuple[Check, ...] = (
    Check("lens_examples", "Logit lens on the paper's examples", "lens",
          "Mid-network the lens prefers the English word to the input language's word (zh, es, fr, de, ja).",
          _lens_runs, _lens_read, MARGINS["nats"], ZERO, " nat"),
    Check("similarity_zh_en", "Translation similarity, Zh–En", "similarity",
          "Translations grow closer than non-matching pairs in the middle layers (centred cosine); "
          "retrieval@1 peaks at the hub layer.", _similarity_runs(HSK, "zh", page=True), _similarity_read,
          MARGINS["cosine"], FIRST_BLOCK, first=2),
    Check("similarity_es_en", "Translation similarity, Es–En", "similarity",
          "The same for Spanish–English prompts.", _similarity_runs(ES_EN, "es", page=False), _similarity_read,
          MARGINS["cosine"], FIRST_BLOCK, first=2),
    Check("languages_zh", "Language of the lens reading, Chinese text", "languages",
          "English's share of the lens reading rises mid-network above its share at the output.",
          _languages_runs, _languages_read, MARGINS["share"], "English's share at the last layer (per text)"),
    Check("anchoring_zh", "English anchoring (Eq. 3), Chinese text", "anchoring",
          "Mid-network the lens prefers the next word's English translation to the actual next token.",
          _anchoring_runs, _difference_read("log p(English translation)", "log p(next token)",
                                            "log p(English translation) − log p(next token)"),
          MARGINS["nats"], ZERO, " nat"),
    Check("arithmetic", "Arithmetic: numerals vs number words", "arithmetic similarity",
          "'b+c' is closer to its own 'b plus c' than to other expressions (centred cosine).",
          _arithmetic_runs, _arithmetic_read, MARGINS["cosine"], ZERO, weight=0.5),
    Check("code_lists", "Code: ' and' vs ' or' at list commas", "code lists",
          "At list-literal commas the lens prefers ' and' to ' or' mid-network (Fig. 8a).",
          _code_runs, _difference_read("log p(' and')", "log p(' or')", "log p(' and') − log p(' or')"),
          MARGINS["nats"], ZERO, " nat"),
    Check("actadd", "ActAdd: English Good − Bad on Spanish prefixes", "sweep",
          "Adding the English pair shifts Spanish continuations' sentiment the steered way (Table 1).",
          _actadd_runs, _actadd_read, MARGINS["sentiment"], ZERO, axis="coef", weight=1.5),
)
HUB_MARGIN = MARGINS["retrieval"]
HUB_REFERENCE = "chance (1 / pairs) or its value after the first block (upper 95% bound), whichever is higher"
RULE = (
    "Each experiment is judged on one effect curve with 95% CIs, against a reference, in the "
    "direction the paper predicts: at a layer the CI must clear the reference by the smallest "
    "effect that counts (1 nat for lens log-probabilities; 0.05 for cosines, shares, retrieval@1 "
    "and sentiment), because a random-weight model's token biases give tight CIs around small "
    "nonzero values. Layers judged: 1..L−1 (layer 0 is the embedding; at L the lens is the model's "
    "output, which the hub hypothesis expects back in the input language), 2..L−1 where the first "
    "block is the reference; every coefficient for steering. shows: cleared at two or more "
    "consecutive layers, and never cleared on the opposite side at two consecutive layers; weak: "
    "cleared somewhere, but not 'shows'; none: never cleared (a null result). References: zero for "
    "differences; for translation similarity and retrieval@1, the value after the first block "
    "(shared tokens already make translations alike there: a random-weight model reaches +0.25 "
    "centred cosine on Es–En) and, for retrieval@1, chance too; English's share at the last layer "
    "for the lens's language. The hub is the layer where centred Zh–En retrieval@1 peaks when that "
    "curve 'shows' and the peak is an intermediate layer; otherwise there is no hub (null)."
)
HUB = "hub"  # the hub's verdict key: read off the Zh-En similarity run
CHECK_KEYS = tuple(c.key for c in CHECKS)
VERDICT_KEYS = (HUB, *CHECK_KEYS)


def check(key: str) -> Check:
    return next(c for c in CHECKS if c.key == key)
