"""Small statistics shared by every experiment: bootstrap confidence intervals."""

from __future__ import annotations

from typing import Any


def bootstrap_ci(
    values: Any,
    groups: Any,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[Any, Any, Any]:
    """Mean over items of `values` [n_items, k] with a percentile bootstrap CI per column.

    Resampling unit = `groups` (an id per item): whole texts are drawn with replacement and all
    their positions come along (positions of one text are not independent); pass
    `groups=arange(n_items)` to resample positions. Returns (mean, low, high), each [k].
    Vectorised: one multinomial count matrix [n_boot, n_groups] times per-group sums.
    """
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(g.max()) + 1 if len(g) else 0
    if n_groups == 0:
        nan = np.full(v.shape[1], np.nan)
        return nan, nan, nan
    sums = np.zeros((n_groups, v.shape[1]))
    np.add.at(sums, g, v)
    counts = np.bincount(g, minlength=n_groups).astype(np.float64)
    mean = sums.sum(0) / counts.sum()
    if n_groups == 1 or n_boot <= 0:
        return mean, mean.copy(), mean.copy()
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot)
    boot = (weights @ sums) / (weights @ counts)[:, None]  # every draw has >= 1 group
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
    return mean, low, high


def wilson_interval(successes: Any, n: int, z: float = 1.96) -> tuple[Any, Any]:
    """95% Wilson score interval of a proportion successes / n (arrays allowed).

    For retrieval@1 and other hit rates that have no bootstrap: unlike the normal approximation
    it stays inside [0, 1] and is not degenerate at 0 or n successes (chance is often ~1/n).
    """
    import numpy as np

    k = np.asarray(successes, dtype=np.float64)
    if n <= 0:
        nan = np.full(k.shape, np.nan)
        return nan, nan
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)
