"""Running state in hubcore: time left from throughput, durations in words, cooperative Stop."""

from __future__ import annotations

import pytest

from hubcore.errors import Cancelled, HubError
from hubcore.progress import cancellable, eta_seconds, format_duration


def test_time_left_comes_from_measured_throughput():
    assert eta_seconds(10.0, 0.25) == pytest.approx(30.0)  # 10 s for a quarter: 30 s to go
    assert eta_seconds(10.0, 0.25, predicted=1000.0) == pytest.approx(30.0)  # measurement wins
    assert eta_seconds(5.0, 1.0) == 0.0


def test_before_a_measurement_the_prediction_counts_down():
    assert eta_seconds(0.5, 0.0, predicted=20.0) == pytest.approx(19.5)
    assert eta_seconds(30.0, 0.01, predicted=20.0) == 0.0
    assert eta_seconds(0.5, 0.0) is None  # neither: say nothing rather than guess


def test_durations_read_as_words():
    assert format_duration(0.2) == "under 1 s"
    assert format_duration(44.6) == "45 s"
    assert format_duration(131) == "2 min 11 s"
    assert format_duration(120) == "2 min"
    assert format_duration(3900) == "1 h 5 min"


def test_stop_raises_cancelled_at_the_next_report_and_forwards_until_then():
    seen, stop = [], [False]
    report = cancellable(lambda f, m: seen.append((f, m)), lambda: stop[0])
    report(0.1, "batch 1")
    stop[0] = True
    with pytest.raises(Cancelled) as err:
        report(0.2, "batch 2")
    assert seen == [(0.1, "batch 1")]
    assert isinstance(err.value, HubError)  # one sentence for the user, not a traceback


def test_a_stopped_experiment_ends_between_its_steps(tiny_model, monkeypatch):
    """A real experiment run with a stopping callback ends with Cancelled after the first
    report, and the model is free afterwards (the next run works). One long text's lens reports
    between layer groups (here forced small), so even a single text can be stopped."""
    import hubcore.lens
    from hubcore.experiments.logit_lens import logit_lens

    model = tiny_model("llama")
    monkeypatch.setattr(hubcore.lens, "SPLIT_ELEMENTS", model.vocab * 40 * 2)  # 2 layers per trace
    calls = []

    def stopped() -> bool:
        return len(calls) >= 1

    with pytest.raises(Cancelled):
        logit_lens(model, "hello world " * 20, progress=cancellable(lambda f, m: calls.append(f), stopped))
    assert len(calls) == 1
    res = logit_lens(model, "hello world")
    assert len(res.cells)
