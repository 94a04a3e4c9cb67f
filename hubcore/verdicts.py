"""The one rule that turns per-layer confidence intervals into a verdict sentence.

Every per-layer chart with 95% CIs gets one line under it saying whether its effect shows, and
the model checkup report uses the same words; no page writes its own. The rule:

- two curves are *separated* at a layer when their CIs do not overlap (for a difference curve:
  when its CI excludes zero);
- **shows**: separated at two or more consecutive layers (a run, not a lone blip);
- **weak**: separated somewhere, but never at two consecutive layers;
- **none**: the CIs overlap at every layer: a null result, said as such.

The sentence names the direction and the layers ("English is below the next token at every layer
(95% CIs)."). Layers are named as everywhere else: 0 = embeddings .. L = last block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

SHOWS, WEAK, NONE = "shows", "weak", "none"


@dataclass(frozen=True)
class Verdict:
    """What the CIs say: status (shows / weak / none), where a is above and below b, the sentence."""

    status: str
    above: tuple[Any, ...]
    below: tuple[Any, ...]
    sentence: str


def spans(xs: Sequence[Any], all_xs: Sequence[Any]) -> str:
    """'3–7, 9, 12–18': runs of consecutive positions in `all_xs` written as ranges."""
    order = {x: i for i, x in enumerate(all_xs)}
    idx = sorted(order[x] for x in xs)
    parts, start = [], None
    for k, i in enumerate(idx):
        if start is None:
            start = i
        if k + 1 == len(idx) or idx[k + 1] != i + 1:
            a, b = all_xs[start], all_xs[i]
            parts.append(_fmt(a) if start == i else f"{_fmt(a)}–{_fmt(b)}")
            start = None
    return ", ".join(parts)


def _fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)) and float(x) == int(x):
        return str(int(x))
    return str(x)


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best


def judge(xs: Sequence[Any], above: Sequence[bool], below: Sequence[bool], a: str, b: str,
          unit: str = "layer") -> Verdict:
    """The verdict for curves a and b over `xs` given where a's CI lies wholly above / below b's."""
    xs = list(xs)
    up, down = np.asarray(above, bool), np.asarray(below, bool)
    sep = up | down
    above_x = tuple(x for x, m in zip(xs, up) if m)
    below_x = tuple(x for x, m in zip(xs, down) if m)
    units = f"{unit}s"
    if not sep.any():
        return Verdict(NONE, (), (), f"No effect: the 95% CIs of {a} and {b} overlap at every "
                                     f"{unit} (a null result).")

    def where(sel: tuple[Any, ...]) -> str:
        if len(sel) == len(xs):
            return f"at every {unit}"
        return f"at {unit} {_fmt(sel[0])}" if len(sel) == 1 else f"at {units} {spans(sel, xs)}"

    clauses = []
    if above_x:
        clauses.append(f"above {b} {where(above_x)}")
    if below_x:
        clauses.append(("below it " if above_x else f"below {b} ") + where(below_x))
    if _longest_run(up) >= 2 or _longest_run(down) >= 2:
        rest = "" if sep.all() else "; elsewhere the CIs overlap"
        return Verdict(SHOWS, above_x, below_x, f"{a[:1].upper() + a[1:]} is {' and '.join(clauses)} "
                                                f"(95% CIs){rest}.")
    return Verdict(WEAK, above_x, below_x, f"Weak: {a} is {' and '.join(clauses)} only, never at two "
                                           f"adjacent {units} (95% CIs).")


def against_zero(xs: Sequence[Any], low: Sequence[float], high: Sequence[float], a: str, b: str,
                 unit: str = "layer") -> Verdict:
    """A difference curve a − b: separated where its CI excludes zero."""
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    return judge(xs, lo > 0, hi < 0, a, b, unit)


def between(xs: Sequence[Any], a_low: Sequence[float], a_high: Sequence[float],
            b_low: Sequence[float], b_high: Sequence[float], a: str, b: str, unit: str = "layer") -> Verdict:
    """Two curves with CIs: separated where the intervals do not overlap."""
    al, ah = np.asarray(a_low, float), np.asarray(a_high, float)
    bl, bh = np.asarray(b_low, float), np.asarray(b_high, float)
    return judge(xs, al > bh, ah < bl, a, b, unit)


def from_frame(df: Any, x: str, series: str, a: str, b: str, low: str = "ci_low", high: str = "ci_high",
               names: tuple[str, str] | None = None, unit: str = "layer") -> Verdict:
    """`between` for two series of a long table (x, series, low, high), on the x values both have."""
    pa = df[df[series] == a].set_index(x)
    pb = df[df[series] == b].set_index(x)
    xs = [v for v in pa.index if v in pb.index]
    xs = sorted(xs)
    na, nb = names or (a, b)
    return between(xs, pa.loc[xs, low], pa.loc[xs, high], pb.loc[xs, low], pb.loc[xs, high], na, nb, unit)


def difference_frame(df: Any, x: str, a: str, b: str, low: str = "ci_low", high: str = "ci_high",
                     unit: str = "layer") -> Verdict:
    """`against_zero` for a difference table (x, low, high) sorted by x."""
    d = df.sort_values(x)
    return against_zero(list(d[x]), d[low], d[high], a, b, unit)


def predicted(xs: Sequence[Any], low: Sequence[float], high: Sequence[float], baseline: Any, direction: int,
              a: str, b: str, unit: str = "layer", margin: float = 0.0) -> Verdict:
    """The same rule for an effect predicted in one direction (the model checkup's verdicts):
    only separations on the predicted side count.

    `baseline` is a number or one per x (zero, chance, a reference layer's value); `margin` the
    smallest effect that counts (a CI must clear baseline + margin, or baseline - margin on the
    other side: a random-weight model's token biases are systematic, so its CIs are tight around
    small nonzero values); `direction` +1 means the paper predicts a above b, -1 below.
    **shows**: the CI clears the predicted side at two or more consecutive xs, and never the
    other side at two consecutive xs (an effect that reverses as firmly as it appears is not the
    predicted one); **weak**: clears the predicted side somewhere, but not `shows`; **none**:
    never clears the predicted side, whatever the other side does. The sentence names both
    sides, as `judge` does; with a margin, `b` should say it ("the next token by more than 1 nat").
    """
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    base = np.broadcast_to(np.asarray(baseline, float), lo.shape)
    up, down = lo > base + margin, hi < base - margin
    good, bad = (up, down) if direction > 0 else (down, up)
    said = judge(xs, up, down, a, b, unit)
    if not good.any():
        side = "above" if direction > 0 else "below"
        sentence = (f"Opposite of the prediction: {said.sentence}" if bad.any() else said.sentence if not margin
                    else f"No effect: at no {unit} is {a} {side} {b} (95% CIs; a null result).")
        return Verdict(NONE, said.above, said.below, sentence)
    if _longest_run(good) >= 2 and _longest_run(bad) < 2:
        return Verdict(SHOWS, said.above, said.below, said.sentence)
    if _longest_run(good) >= 2:
        return Verdict(WEAK, said.above, said.below, f"Mixed, so weak: {said.sentence}")
    return Verdict(WEAK, said.above, said.below, said.sentence)
