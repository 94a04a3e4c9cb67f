"""The one verdict rule (hubcore.verdicts): shows / weak / none from per-layer 95% CIs."""

from __future__ import annotations

import pandas as pd

from hubcore.verdicts import NONE, SHOWS, WEAK, against_zero, between, from_frame, spans

LAYERS = list(range(19))


def test_below_at_every_layer_is_said_so():
    v = against_zero(LAYERS, [-2.0] * 19, [-0.5] * 19, "English", "the next token")
    assert v.status == SHOWS
    assert v.sentence == "English is below the next token at every layer (95% CIs)."
    assert v.below == tuple(LAYERS) and v.above == ()


def test_a_run_of_layers_shows_and_is_named_with_both_directions():
    low = [0.1 if 5 <= i <= 9 else -1.0 for i in LAYERS]
    high = [-0.1 if i < 3 else 1.0 for i in LAYERS]
    v = against_zero(LAYERS, low, high, "English", "the next token")
    assert v.status == SHOWS
    assert v.above == (5, 6, 7, 8, 9) and v.below == (0, 1, 2)
    assert "above the next token at layers 5–9 and below it at layers 0–2" in v.sentence
    assert v.sentence.endswith("elsewhere the CIs overlap.")


def test_lone_layers_are_weak_never_shows():
    low = [0.2 if i in (3, 9) else -1.0 for i in LAYERS]
    v = against_zero(LAYERS, low, [1.0] * 19, "a", "b")
    assert v.status == WEAK
    assert v.sentence.startswith("Weak:") and "layers 3, 9" in v.sentence and "adjacent" in v.sentence


def test_overlap_everywhere_is_a_null_result():
    v = against_zero(LAYERS, [-1.0] * 19, [1.0] * 19, "translations", "non-matching pairs")
    assert v.status == NONE and v.above == v.below == ()
    assert "null result" in v.sentence and "overlap at every layer" in v.sentence


def test_two_curves_are_separated_only_where_their_cis_do_not_overlap():
    a_lo, a_hi = [1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 2.0, 2.0]
    b_lo, b_hi = [0.0, 0.0, 1.5, 0.0], [0.5, 0.9, 3.0, 1.0]
    v = between([0, 1, 2, 3], a_lo, a_hi, b_lo, b_hi, "numeral", "word")
    assert v.above == (0, 1) and v.status == SHOWS  # touching at layer 2, overlapping at 3


def test_from_frame_reads_two_series_of_a_long_table():
    rows = [(l, s, lo, hi) for l in range(4) for s, lo, hi in (("same", 0.5, 0.6), ("diff", 0.1, 0.2))]
    df = pd.DataFrame(rows, columns=["layer", "bucket", "ci_low", "ci_high"])
    v = from_frame(df, "layer", "bucket", "same", "diff", names=("same value", "different value"))
    assert v.sentence == "Same value is above different value at every layer (95% CIs)."


def test_spans_write_runs_as_ranges():
    assert spans([0, 1, 2, 5, 7, 8], list(range(10))) == "0–2, 5, 7–8"
    assert spans([0.0, 0.5, 1.0], [0.0, 0.5, 1.0, 2.0]) == "0–1"  # consecutive in the sweep's order
