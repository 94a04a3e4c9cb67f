"""The step several experiments share: per-item, per-layer lens values -> per-layer curves with
95% bootstrap CIs, a difference curve, and a long item x layer table.

Anchoring (English vs next token), code (" and" vs " or", role vs argument), audio (English vs
source word) and vision (caption nouns) all read the lens at item positions (`lens.lens_at` with
per-position targets) and then summarise the same way; this module is that summary, written once.
Bootstrap draws depend only on the resampling groups and the seed, so every curve of one run uses
the same resamples.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..stats import bootstrap_ci

CURVE_COLUMNS = ["layer", "target", "mean_logprob", "ci_low", "ci_high", "n"]
DIFF_COLUMNS = ["layer", "mean_diff", "ci_low", "ci_high", "frac_positive", "n"]


def layer_curves(values: Mapping[str, np.ndarray], groups: Sequence[Any], layers: Sequence[int],
                 n_boot: int, seed: int, value: str = "mean_logprob") -> pd.DataFrame:
    """`values[target]` `[n_items, n_layers]` -> rows (layer, target, mean, ci_low, ci_high, n)."""
    g = np.asarray(groups)
    rows = []
    for target, arr in values.items():
        mean, lo, hi = bootstrap_ci(arr, g, n_boot=n_boot, seed=seed)
        rows += [(int(layer), target, float(mean[j]), float(lo[j]), float(hi[j]), int(len(arr)))
                 for j, layer in enumerate(layers)]
    return pd.DataFrame(rows, columns=["layer", "target", value, "ci_low", "ci_high", "n"])


def difference_curve(a: np.ndarray, b: np.ndarray, groups: Sequence[Any], layers: Sequence[int],
                     n_boot: int, seed: int, frac: str = "frac_positive") -> pd.DataFrame:
    """Per layer: mean of a - b with its CI, and the share of items where a > b."""
    diff = np.asarray(a) - np.asarray(b)
    mean, lo, hi = bootstrap_ci(diff, np.asarray(groups), n_boot=n_boot, seed=seed)
    return pd.DataFrame(
        [(int(layer), float(mean[j]), float(lo[j]), float(hi[j]), float((diff[:, j] > 0).mean()),
          int(len(diff))) for j, layer in enumerate(layers)],
        columns=["layer", "mean_diff", "ci_low", "ci_high", frac, "n"],
    )


def item_layer_table(values: Mapping[str, np.ndarray], top1: np.ndarray, layers: Sequence[int],
                     decode: Callable[[int], str], names: Optional[Mapping[str, str]] = None) -> pd.DataFrame:
    """Long table: one row per (item, layer) with each target's value and the lens's top-1 token.

    `names` renames value columns (e.g. {"english": "english_logprob"}).
    """
    n_items, n_layers = top1.shape
    out: dict[str, Any] = {"item": np.repeat(np.arange(n_items), n_layers),
                           "layer": np.tile(np.asarray(list(layers)), n_items)}
    for target, arr in values.items():
        out[(names or {}).get(target, target)] = np.asarray(arr).reshape(-1)
    cache: dict[int, str] = {}
    tokens = []
    for i in top1.reshape(-1).tolist():
        if i not in cache:
            cache[i] = decode(int(i))
        tokens.append(cache[i])
    out["top1_token"] = tokens
    return pd.DataFrame(out)
