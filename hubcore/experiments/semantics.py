"""Formal-semantics experiments (paper §3.4): sentences vs their logical forms.

- `lf_similarity` (Fig. 9): per layer, cos(sentence_i, LF_i) at the last token, minus three
  baselines, each with a 95% bootstrap CI over items:
    nonmatching       the mean of cos(sentence_i, LF_j), j != i (the paper's baseline);
    swapped_names     cos(sentence_i, LF_i with its two proper names exchanged): the same words,
                      the wrong meaning, so this difference is the part of the similarity that
                      lexical overlap cannot explain;
    swapped_shuffled  as swapped_names, with the AND-conjuncts also shuffled.
  The swap baselines are paired differences over the examples that hold two distinct proper names
  (generated data: all of them; uploads: the pairs where two capitalised words appear on both
  sides); the non-matching baseline uses every example.
- `thematic_roles` (Fig. 10): at the token before each non-initial proper-name argument (where
  the lens predicts the name), the lens probability of " agent", " recipient" and " theme" per
  layer, grouped by the name's gold role, with each role word's mean over all those positions of
  the layer subtracted ("adjusted", the paper's prior adjustment).

The LFs fed to the model use the compact rendering ("*cake(x4); sell.agent(x1, Eleanor) AND
...") unless `lf_format="cogs"` asks for COGS spacing. Each function is registered (`semantics
similarity|roles`), serves the Formal-semantics page and `python -m hubcore semantics ...`, and
returns a `Result`.
"""

from __future__ import annotations

import random
import re
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..data.cogs import (
    ROLES,
    TWO_NAME_CONSTRUCTIONS,
    Example,
    generate,
    role_positions,
    shuffle_conjuncts,
    swap_names,
    to_cogs,
    to_compact,
    with_random_names,
)
from ..errors import InputError
from ..lens import lens_at, word_variants
from ..progress import Progress, report, scaled
from ..similarity import METRICS, corpus_mean, cosine_matrix, pair_similarity
from ..stats import bootstrap_ci
from ..tokens import encode
from ..trace import capture_last
from .arithmetic import BOOTSTRAP, RAW, SEED, variant_shares
from .lens_param import LENS, checked_lens
from .registry import Param, experiment, group, read_input
from .result import Result, Table, result

if TYPE_CHECKING:
    from ..models.handle import Handle as HubModel

group("semantics", "sentences vs logical forms (paper §3.4)")

BASELINES = ("nonmatching", "swapped_names", "swapped_shuffled")
SIM_COLUMNS = ["layer", "metric", "baseline", "adjusted", "ci_low", "ci_high"]
CSV_COLUMNS = ("layer", "baseline", "adjusted", "ci_low", "ci_high")  # one metric: the CLI's main table
LEVEL_COLUMNS = ["layer", "metric", "comparison", "mean_cos", "n"]
ROLE_COLUMNS = ["layer", "gold_role", "read_role", "mean_prob", "ci_low", "ci_high", "adjusted"]
LF_FORMATS = ("compact", "cogs")
# Constructions of the thematic-roles data and their weights: each gives the gold role of its
# non-initial name (transitive: theme, passive: agent, datives: recipient; the passive datives
# give a recipient and an agent), weighted so the three roles come out about equally often.
ROLE_CONSTRUCTIONS = ("transitive", "passive", "dative_do", "dative_pp")
ROLE_WEIGHTS = (3.0, 2.0, 1.0, 1.0)


def model_lf(example: Example, lf_format: str = "compact") -> str:
    """The LF as fed to the model. An uploaded LF not in COGS notation is used as given."""
    if lf_format not in LF_FORMATS:
        raise InputError(f"Unknown LF format '{lf_format}': use {', '.join(LF_FORMATS)}.")
    if not _is_cogs_like(example.lf):
        return example.lf
    return to_compact(example.lf) if lf_format == "compact" else to_cogs(example.lf)


def _is_cogs_like(lf: str) -> bool:
    return bool(re.search(r"\bx(?: _ )?\d+\b", lf)) and "(" in lf


# ----------------------------------------------------------------------------- uploads

_CAPITALISED = re.compile(r"\b[A-Z][a-z][A-Za-z]*\b")


def examples_from_pairs(pairs: Sequence[tuple[str, str]]) -> list[Example]:
    """Examples from uploaded (sentence, logical form) pairs.

    Proper names are not marked in an upload, so they are guessed: the capitalised words
    (an uppercase letter then a lowercase one, so "AND" is not one) that occur as whole words in
    both the sentence and the LF, in sentence order. Pairs with two such names take part in the
    swap baselines; the others only in the non-matching baseline.
    """
    out = []
    for sentence, lf in pairs:
        sentence, lf = (sentence or "").strip(), (lf or "").strip()
        if not sentence or not lf:
            continue
        lf_words = set(re.findall(r"\w+", lf))
        names = tuple(dict.fromkeys(w for w in _CAPITALISED.findall(sentence) if w in lf_words))
        out.append(Example(sentence=sentence, lf=lf, names=names, construction="uploaded"))
    if not out:
        raise InputError("No non-empty (sentence, logical form) pairs.")
    return out


# ----------------------------------------------------------------------------- similarity


def metric_rows(curves: pd.DataFrame, metric: str = "raw") -> pd.DataFrame:
    """`layer,baseline,adjusted,ci_low,ci_high` of one metric out of the two-metric `curves`
    (what `semantics similarity --metric` writes; the page switches metric without a rerun)."""
    if metric not in METRICS:
        raise InputError(f"Unknown metric '{metric}': use {', '.join(METRICS)}.")
    df = curves[curves.metric == metric]
    if df.empty:
        raise InputError(f"The metric '{metric}' was not computed.")
    return df.drop(columns="metric").reset_index(drop=True)


# values key for an uploaded file's bytes (the page); `pairs` then holds the file's name
UPLOAD = "upload"


def read_pairs_file(path: str, data: Optional[bytes] = None) -> tuple[list[Example], list[str]]:
    """Examples from a sentence / logical-form TSV or CSV file (`--pairs`, or an upload's
    `data`), plus the parser's notes."""
    from ..data.uploads import parse_pairs

    pairs, notes = parse_pairs(read_input(path) if data is None else data, path)
    return examples_from_pairs(pairs), notes


def _similarity_inputs(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """CLI values -> `lf_similarity` kwargs; a pairs file is read (and rejected) before the
    model loads."""
    kwargs = {k: values[k] for k in ("n", "seed", "n_boot", "metric") if values.get(k) is not None}
    notes: list[str] = []
    if values.get("pairs"):
        examples, notes = read_pairs_file(values["pairs"], values.get(UPLOAD))
        kwargs["examples"] = tuple(examples)
    return kwargs, notes


def _choose(examples: Sequence[Example], n: int, seed: int, notes: list[str]) -> list[Example]:
    examples = list(examples)
    if n and len(examples) > n:
        keep = sorted(random.Random(seed).sample(range(len(examples)), n))
        notes.append(f"Used a seeded sample of {n} of the {len(examples)} examples.")
        examples = [examples[i] for i in keep]
    return examples


@experiment(
    name="semantics similarity",
    summary="sentence vs its LF minus three baselines (Fig. 9)",
    description="Cosine of a sentence's and its logical form's last-token states per layer, minus "
                "three baselines. Writes layer,baseline,adjusted,ci_low,ci_high (the --metric) with "
                "baseline in {nonmatching, swapped_names, swapped_shuffled}; both metrics go to "
                "<out>_curves.csv and the cosines behind the differences to <out>_levels.csv.",
    page="semantics",
    tables=(Table("similarity", CSV_COLUMNS, "cos(sentence, its LF) minus each baseline, one metric"),
            Table("curves", tuple(SIM_COLUMNS), "the same for both metrics"),
            Table("levels", tuple(LEVEL_COLUMNS), "the mean cosines behind the differences")),
    params=(Param("n", "examples (generated, or sampled from --pairs)", type=int, low=2, high=2000),
            SEED, Param("metric", "cosine of the CSV: raw (the paper's) or centred (each side's "
                                  "mean removed)", choices=METRICS),
            BOOTSTRAP,
            Param("pairs", "sentence<TAB>logical form file (TSV/CSV, UTF-8) instead of the "
                           "generated data", arg="", metavar="FILE")),
    prepare=_similarity_inputs,
)
def lf_similarity(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    examples: Optional[Sequence[Example]] = None,
    n_boot: int = 1000,
    metrics: Sequence[str] = METRICS,
    lf_format: str = "compact",
    metric: str = "raw",
    progress: Optional[Progress] = None,
) -> Result:
    """Sentence vs its LF per layer, minus three baselines, with 95% bootstrap CIs (Fig. 9).

    Without `examples`, `n` generated examples that each hold two distinct proper names (the
    two-argument constructions with names in both person slots). With `examples` (uploads), a
    seeded sample of at most `n` of them. Last-token states; "centered" removes each side's mean
    state (sentences; true LFs, whose mean also centres the swapped LFs). The main table is
    `metric`'s rows; `curves` holds every metric computed.
    """
    notes: list[str] = []
    if metric not in metrics:
        raise InputError(f"The metric '{metric}' is not among those computed ({', '.join(metrics)}).")
    if examples is None:
        exs = generate(n, seed=seed, constructions=TWO_NAME_CONSTRUCTIONS, min_names=2)
    else:
        exs = _choose(examples, n, seed, notes)
    if len(exs) < 2:
        raise InputError("At least two examples are needed (the baseline is the non-matching pairs).")
    unknown = set(metrics) - set(METRICS)
    if unknown or not metrics:
        raise InputError(f"Unknown metric(s) {sorted(unknown)}: use {', '.join(METRICS)}.")
    swap_idx = [i for i, e in enumerate(exs) if len(set(e.names)) >= 2]
    if len(swap_idx) < 2:
        notes.append(f"Only {len(swap_idx)} example(s) hold two proper names: the swap baselines "
                     "need at least 2 and were skipped.")
        swap_idx = []
    elif len(swap_idx) < len(exs):
        notes.append(f"The swap baselines use the {len(swap_idx)} of {len(exs)} examples that hold "
                     "two proper names.")
    sentences = [e.sentence for e in exs]
    lfs = [model_lf(e, lf_format) for e in exs]
    swapped = [model_lf(swap_names(exs[i]), lf_format) for i in swap_idx]
    shuffled = [shuffle_conjuncts(s, seed=seed * 100_003 + i) for s, i in zip(swapped, swap_idx)]
    states = capture_last(model, sentences + lfs + swapped + shuffled,
                          progress=scaled(progress, 0.0, 0.85))
    n_ex, n_sw = len(exs), len(swap_idx)
    a, b = states[:n_ex], states[n_ex:2 * n_ex]
    sides = {"swapped_names": states[2 * n_ex:2 * n_ex + n_sw],
             "swapped_shuffled": states[2 * n_ex + n_sw:]}
    centers = (corpus_mean(a), corpus_mean(b))
    report(progress, 0.88, "Bootstrapping confidence intervals")

    nonmatch = pair_similarity(a, b, metrics=metrics, n_boot=n_boot, seed=seed, centers=centers)
    frames = [nonmatch.assign(baseline="nonmatching")[SIM_COLUMNS]]
    levels = [nonmatch[["layer", "metric", "matched"]].rename(columns={"matched": "mean_cos"})
              .assign(comparison="matched", n=n_ex),
              nonmatch[["layer", "metric", "baseline"]].rename(columns={"baseline": "mean_cos"})
              .assign(comparison="nonmatching", n=n_ex)]
    n_layers = a.shape[1]
    if swap_idx:
        idx = list(swap_idx)
        for m in metrics:  # not `metric`: that names the main table's metric
            def diag(x, y, li, m=m):  # cos(x_k, y_k) per item at layer li, centred like the LFs
                ca, cb = (centers[0][li], centers[1][li]) if m == "centered" else (None, None)
                return cosine_matrix(x[:, li], y[:, li], ca, cb).diagonal().numpy()

            matched = np.stack([diag(a[idx], b[idx], li) for li in range(n_layers)], axis=1)
            levels.append(pd.DataFrame({"layer": range(n_layers), "metric": m,
                                        "mean_cos": matched.mean(0), "comparison": "matched_two_names",
                                        "n": n_sw}))
            for name, other in sides.items():
                cos = np.stack([diag(a[idx], other, li) for li in range(n_layers)], axis=1)
                mean, lo, hi = bootstrap_ci(matched - cos, np.arange(n_sw), n_boot=n_boot, seed=seed)
                if n_boot <= 0:
                    lo = hi = np.full(n_layers, np.nan)
                frames.append(pd.DataFrame({"layer": range(n_layers), "metric": m,
                                            "baseline": name, "adjusted": mean,
                                            "ci_low": lo, "ci_high": hi}))
                levels.append(pd.DataFrame({"layer": range(n_layers), "metric": m,
                                            "mean_cos": cos.mean(0), "comparison": name, "n": n_sw}))
    curves = (pd.concat(frames, ignore_index=True)
              .sort_values(["metric", "baseline", "layer"], kind="stable").reset_index(drop=True))
    curves["layer"] = curves["layer"].astype(int)
    levels_df = pd.concat(levels, ignore_index=True)[LEVEL_COLUMNS]
    report(progress, 1.0, "Done")
    curves = curves[SIM_COLUMNS]
    return result("semantics similarity",
                  {"similarity": metric_rows(curves, metric), "curves": curves, "levels": levels_df},
                  notes, examples=exs, n=n_ex, n_swap=n_sw, lf_format=lf_format, metric=metric)


# ----------------------------------------------------------------------------- thematic roles

POSITION_COLUMNS = ("item", "sentence", "name", "gold_role", "read_token")
VARIANT_COLUMNS = ("read_role", "variant", "token", "cells", "share")


def role_examples(n: int, seed: int = 0) -> list[Example]:
    """`n` generated examples, each with at least one non-initial proper-name argument, with the
    gold roles agent / recipient / theme about equally frequent."""
    out: list[Example] = []
    batch = max(4 * n, 16)
    k = 0
    while len(out) < n:
        pool = generate(batch, seed=seed + 7919 * k, constructions=ROLE_CONSTRUCTIONS,
                        weights=ROLE_WEIGHTS, name_prob=0.8)
        seen = {e.sentence for e in out}
        out += [e for e in pool if role_positions(e) and e.sentence not in seen][: n - len(out)]
        k += 1
        if k > 20:
            raise InputError(f"Could only generate {len(out)} examples with a non-initial name.")
    return out


def _reading_positions(model: "HubModel", examples: Sequence[Example]) -> tuple[list, list]:
    """Per example: the token index before each role name, and (item, RolePosition) rows."""
    encoded = encode(model.tokenizer, [e.sentence for e in examples])
    positions: list[list[int]] = []
    rows = []
    for i, (e, enc) in enumerate(zip(examples, encoded)):
        has_offsets = any(end > 0 for _, end in enc.offsets)
        mine = []
        for rp in role_positions(e):
            if has_offsets:
                t = next((k for k, (_, end) in enumerate(enc.offsets) if end > rp.start), None)
            else:  # slow tokenizer: the name starts after the tokens of the text before it
                t = len(encode(model.tokenizer, [e.sentence[:rp.start].rstrip()])[0].ids)
            if t is None or t < 1:
                continue
            mine.append(t - 1)
            rows.append((i, rp))
        positions.append(mine)
    return positions, rows


@experiment(
    name="semantics roles",
    summary="agent/recipient/theme through the lens (Fig. 10)",
    description="Lens probability of ' agent', ' recipient', ' theme' at the token before each "
                "non-initial proper-name argument, per layer and gold role, raw and prior-adjusted. "
                "Writes layer,gold_role,read_role,mean_prob,ci_low,ci_high,adjusted; the reading "
                "positions go to <out>_positions.csv and the winning surface forms to "
                "<out>_variants.csv.",
    page="semantics",
    tables=(Table("curves", tuple(ROLE_COLUMNS), "mean p(role word) per layer, gold role and read role"),
            Table("positions", POSITION_COLUMNS, "each reading position: the token before a name"),
            Table("variants", VARIANT_COLUMNS, "which surface form of each role word won")),
    params=(Param("n", "examples", type=int, low=1, high=2000), RAW, SEED, BOOTSTRAP, LENS),
)
def thematic_roles(
    model: "HubModel",
    n: int = 200,
    seed: int = 0,
    raw: bool = False,
    n_boot: int = 1000,
    examples: Optional[Sequence[Example]] = None,
    progress: Optional[Progress] = None,
    lens: str = "logit",
) -> Result:
    """Lens probability of each role word before each non-initial name, per layer (Fig. 10).

    The names of every example are first replaced by random other names (seeded), so nothing the
    model memorised about a particular name can help. For each reading position (the token before
    the name) and layer, p(" agent"), p(" recipient"), p(" theme"), each the better of its
    leading-space and no-space forms; `mean_prob` averages over the positions whose name has
    `gold_role` (95% bootstrap CI over sentences), and `adjusted` subtracts the read role's mean
    over all reading positions of that layer (the prior).
    """
    notes: list[str] = []
    exs = role_examples(n, seed) if examples is None else list(examples)
    rng = random.Random(seed)
    exs = [with_random_names(e, rng) for e in exs]
    positions, rows = _reading_positions(model, exs)
    if not rows:
        raise InputError("No example has a proper-name agent, recipient or theme after its "
                         "first word.")
    keep = [i for i, p in enumerate(positions) if p]
    if len(keep) < len(exs):
        notes.append(f"{len(exs) - len(keep)} example(s) have no non-initial named argument.")
    tok = model.tokenizer
    variants = {role: word_variants(tok, role) for role in ROLES}
    ids = sorted({tid for vs in variants.values() for _, tid in vs})
    col = {tid: j for j, tid in enumerate(ids)}
    enc = encode(tok, [exs[i].sentence for i in keep])
    # positions concatenated in the order of `rows`
    out = lens_at(model, enc, positions=[positions[i] for i in keep], top_k=1, target_ids=ids,
                  apply_norm=not raw, progress=scaled(progress, 0.0, 0.95), lens=checked_lens(lens, raw))
    probs = out.target_logprobs.exp().numpy()  # [n_layers, P, n_ids]
    n_layers, n_pos = probs.shape[0], probs.shape[1]
    per_role = np.zeros((n_pos, n_layers, len(ROLES)))
    wins = []
    for r, role in enumerate(ROLES):
        vals = np.stack([probs[:, :, col[tid]] for _, tid in variants[role]])  # [V, L, P]
        per_role[:, :, r] = vals.max(axis=0).T
        for v in vals.argmax(axis=0).ravel():
            wins.append((role, variants[role][int(v)][0], tok.decode([variants[role][int(v)][1]])))
    prior = per_role.mean(axis=0)  # [n_layers, 3]
    items = np.array([i for i, _ in rows])
    gold = np.array([rp.role for _, rp in rows])
    out_rows = []
    for g in ROLES:
        mask = gold == g
        if not mask.any():
            notes.append(f"No named {g} in these examples.")
            continue
        flat = per_role[mask].reshape(int(mask.sum()), -1)
        mean, lo, hi = (x.reshape(n_layers, len(ROLES))
                        for x in bootstrap_ci(flat, items[mask], n_boot=n_boot, seed=seed))
        for layer in range(n_layers):
            for r, read in enumerate(ROLES):
                out_rows.append((layer, g, read, float(mean[layer, r]), float(lo[layer, r]),
                                 float(hi[layer, r]), float(mean[layer, r] - prior[layer, r])))
    read_tokens = [tok.decode([enc_i.ids[p]]) for enc_i, ps in zip(enc, [positions[i] for i in keep])
                   for p in ps]
    pos_df = pd.DataFrame({"item": items, "sentence": [exs[i].sentence for i in items],
                           "name": [rp.name for _, rp in rows], "gold_role": gold,
                           "read_token": read_tokens})
    var_df = variant_shares(wins, ["read_role", "variant", "token"], ["read_role", "variant", "token"])
    report(progress, 1.0, "Done")
    # probs: [n_positions, n_layers, 3] p(agent, recipient, theme), rows as `positions`
    return result("semantics roles", {"curves": pd.DataFrame(out_rows, columns=ROLE_COLUMNS),
                                      "positions": pos_df, "variants": var_df}, notes,
                  probs=per_role, examples=exs, n_positions=n_pos)
