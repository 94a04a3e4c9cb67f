"""`hubcore.verdicts.predicted`: the checkup's rule for an effect the paper predicts in one direction."""

from __future__ import annotations

from hubcore.verdicts import NONE, SHOWS, WEAK, predicted

LAYERS = list(range(1, 18))


def ci(points: dict[int, tuple[float, float]], default: tuple[float, float] = (-0.5, 0.5)):
    low = [points.get(x, default)[0] for x in LAYERS]
    high = [points.get(x, default)[1] for x in LAYERS]
    return low, high


def test_a_run_on_the_predicted_side_shows():
    low, high = ci({12: (0.2, 0.9), 13: (0.3, 1.0), 14: (0.1, 0.6)})
    v = predicted(LAYERS, low, high, 0.0, +1, "English", "the next token")
    assert v.status == SHOWS and v.above == (12, 13, 14)
    assert "above the next token at layers 12–14" in v.sentence


def test_a_lone_layer_is_weak():
    low, high = ci({5: (0.2, 0.9), 9: (0.1, 0.3)})
    assert predicted(LAYERS, low, high, 0.0, +1, "a", "b").status == WEAK


def test_the_other_side_does_not_count_and_says_so():
    low, high = ci({x: (-3.0, -1.0) for x in LAYERS})
    v = predicted(LAYERS, low, high, 0.0, +1, "English", "the next token")
    assert v.status == NONE  # the judge's own status would be SHOWS: separated, but the wrong way
    assert v.sentence.startswith("Opposite of the prediction: English is below the next token at every layer")


def test_an_effect_reversing_as_firmly_as_it_appears_is_weak():
    low, high = ci({5: (0.5, 2.0), 6: (0.6, 1.5), 8: (-2.0, -0.4), 9: (-1.5, -0.2)})
    v = predicted(LAYERS, low, high, 0.0, +1, "and", "or")
    assert v.status == WEAK and v.sentence.startswith("Mixed, so weak:")


def test_the_margin_is_the_smallest_effect_that_counts():
    low, high = ci({x: (0.01, 0.03) for x in LAYERS})  # tight and nonzero: a random model's token bias
    assert predicted(LAYERS, low, high, 0.0, +1, "a", "b").status == SHOWS
    v = predicted(LAYERS, low, high, 0.0, +1, "a", "b by more than 0.05", margin=0.05)
    assert v.status == NONE and v.sentence == "No effect: at no layer is a above b by more than 0.05 (95% CIs; a null result)."


def test_a_baseline_per_layer_and_the_downward_direction():
    base = [0.1] * len(LAYERS)
    low, high = ci({3: (0.0, 0.05), 4: (0.0, 0.08)}, default=(0.05, 0.3))
    assert predicted(LAYERS, low, high, base, -1, "loss", "chance").status == SHOWS
    assert predicted(LAYERS, low, high, base, +1, "loss", "chance").status == NONE
