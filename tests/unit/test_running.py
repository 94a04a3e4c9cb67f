"""The running machinery (app.running) outside a page: jobs on worker threads, cooperative Stop,
one computation per key however many callers wait for it, and costs recorded for estimates."""

from __future__ import annotations

import threading
import time

import pytest

from app import running
from hubcore.errors import Cancelled
from hubcore.progress import report


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    import hubcore.estimates

    monkeypatch.setattr(hubcore.estimates, "cache_root", lambda: tmp_path)  # measurements go here
    running.clear()
    yield
    running.clear()


CALLS: list[int] = []


def slow(model, progress=None, steps=20, pause=0.02):
    CALLS.append(steps)
    for i in range(steps):
        time.sleep(pause)
        report(progress, (i + 1) / steps, f"step {i + 1}/{steps}")
    return {"steps": steps}


def test_a_stopped_job_ends_at_its_next_report_and_keeps_nothing():
    key = running.run_key(slow, "spec", {"steps": 200})
    job = running.start(slow, None, "spec", None, key, "slow", {"steps": 200, "pause": 0.01})
    while job.fraction < 0.05:
        time.sleep(0.01)
    job.cancel.set()
    assert job.done.wait(5)
    assert isinstance(job.error, Cancelled)
    assert 0.05 <= job.fraction < 0.5  # it stopped between steps, early
    assert running.cached(key) == (False, None)
    assert key not in running._jobs


def test_the_job_reports_stage_progress_and_time_left():
    key = running.run_key(slow, "spec", {"steps": 10})
    job = running.start(slow, None, "spec", None, key, "slow", {"steps": 10, "pause": 0.15})
    while job.fraction < 0.3:
        time.sleep(0.02)
    text = job.status()
    assert text.startswith("step ") and "% · " in text and "elapsed" in text
    job.done.wait(5)
    assert job.result == {"steps": 10} and running.cached(key) == (True, {"steps": 10})


def test_callers_of_the_same_run_share_one_computation():
    CALLS.clear()
    out = []

    def ask():
        out.append(running.get_result(slow, "spec", lambda: None, None, steps=15, pause=0.02))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert CALLS == [15] and out == [{"steps": 15}] * 3


def test_a_finished_run_teaches_the_estimate():
    from hubcore.estimates import predict

    running.get_result(slow, "spec", lambda: None, None, steps=5, pause=0.01)
    # a registered experiment is recorded under its name; this plain function under its own
    est = predict(slow.__qualname__, "spec", {"steps": 5, "pause": 0.01})
    assert est is not None and est.seconds > 0.04 and est.runs == 1


def threads_seen(model, progress=None, stream=None):
    """The thread counts outside and inside the run's streamed phase."""
    import torch

    from hubcore.cpu_threads import while_streaming

    outside = torch.get_num_threads()
    with while_streaming():
        return outside, torch.get_num_threads()


@pytest.mark.parametrize("spare", [True, False])
def test_a_run_streaming_to_a_browser_here_leaves_it_a_core_and_gives_it_back(spare):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the suite runs with 1 (tests/conftest.py): give it one to spare
    try:
        key = running.run_key(threads_seen, "spec", {"stream": spare})
        job = running.start(threads_seen, None, "spec", None, key, "threads", {"stream": object()}, spare_core=spare)
        assert job.done.wait(10) and job.error is None
        assert job.result == (2, 1 if spare else 2)  # a core spared only while the run streams
        assert torch.get_num_threads() == 2  # restored for whatever runs next
    finally:
        torch.set_num_threads(before)


def test_only_a_streamed_run_from_a_local_viewer_spares_a_core(monkeypatch):
    started = []
    monkeypatch.setattr(running, "start", lambda *a, **kw: started.append(kw["spare_core"]) or _done())
    for params in ({"stream": object()}, {"stream": None}, {}):
        running.wait_for(threads_seen, "spec", lambda: None, None, ("k", len(started)), "site", params, "threads")
    assert started == [True, False, False]  # outside a browser session the viewer counts as local


def _done():
    job = running.Job(key=("done",), name="done")
    job.done.set()
    return job
