"""Concurrent sessions: same results as one session, one lock per model, bounded caches.

Streamlit serves every browser session from one process: sessions share the loaded models (one
`HubModel` per spec, one lock each: nnsight traces are not thread-safe) and the result LRU.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import torch

from hubcore.experiments.logit_lens import logit_lens
from hubcore.trace import capture

TEXTS = ["今天是开心的一", "Hoy es un buen", "The capital of France is", "def add(a, b):"]


def _max_concurrent_forwards(model, monkeypatch) -> list[int]:
    """Count forwards of the first block running at the same time (the lock must keep it at 1)."""
    block = model.nn.layers[0]._module
    real = block.forward
    state = {"now": 0}
    peak = [0]
    guard = threading.Lock()

    def forward(*args, **kwargs):
        with guard:
            state["now"] += 1
            peak[0] = max(peak[0], state["now"])
        try:
            return real(*args, **kwargs)
        finally:
            with guard:
                state["now"] -= 1

    monkeypatch.setattr(block, "forward", forward)
    return peak


def test_threads_on_one_model_equal_one_session_and_are_serialised(tiny_model, monkeypatch):
    model = tiny_model("llama")
    alone = [logit_lens(model, t, top_k=3).csv_frame() for t in TEXTS]
    caps = capture(model, TEXTS, positions="all").states
    peak = _max_concurrent_forwards(model, monkeypatch)

    def work(i: int):
        text = TEXTS[i % len(TEXTS)]
        return i, logit_lens(model, text, top_k=3).csv_frame(), capture(model, [text], positions="all").states[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    for i, frame, states in results:
        k = i % len(TEXTS)
        assert frame.equals(alone[k])
        assert torch.allclose(states, caps[k], atol=1e-5)
    assert peak[0] == 1  # one lock per model: never two traces at once


def test_result_cache_is_bounded_and_keyed_on_every_parameter():
    from app import widgets

    widgets.clear_results()
    calls: list[tuple] = []

    def fake(model, progress=None, **params):
        calls.append(tuple(sorted(params.items())))
        return dict(params)

    try:
        for i in range(widgets.MAX_RESULTS + 10):
            widgets.cached_run(fake, "spec-a", lambda: None, n=i, text="x")
        assert len(widgets._results) == widgets.MAX_RESULTS  # bounded: oldest evicted
        before = len(calls)
        widgets.cached_run(fake, "spec-a", lambda: None, n=widgets.MAX_RESULTS + 9, text="x")  # hit
        assert len(calls) == before
        widgets.cached_run(fake, "spec-b", lambda: None, n=widgets.MAX_RESULTS + 9, text="x")  # other model
        widgets.cached_run(fake, "spec-a", lambda: None, n=widgets.MAX_RESULTS + 9, text="y")  # other param
        widgets.cached_run(fake, "spec-a", lambda: None, n=0, text="x")  # evicted earlier: recomputed
        assert len(calls) == before + 3
    finally:
        widgets.clear_results()


def test_uploaded_data_is_part_of_the_cache_key():
    """Uploads reach experiments as tuples of their parsed rows, so a different file with the
    same name is a different key (the key holds the data itself, not a file name)."""
    from app import widgets
    from hubcore.data.uploads import parse_pairs

    widgets.clear_results()
    seen = []

    def fake(model, progress=None, pairs=()):
        seen.append(pairs)
        return len(pairs)

    try:
        a, _ = parse_pairs(b"a\tb\nc\td\n", "up.tsv")
        b, _ = parse_pairs(b"a\tb\nc\tX\n", "up.tsv")
        widgets.cached_run(fake, "spec", lambda: None, pairs=tuple(a))
        widgets.cached_run(fake, "spec", lambda: None, pairs=tuple(b))
        widgets.cached_run(fake, "spec", lambda: None, pairs=tuple(a))
        assert len(seen) == 2
    finally:
        widgets.clear_results()


# The three-sessions test is a browser test now: tests/browser/test_browser_concurrency.py
