"""One core left to a browser on the same machine while a run streams to it.

A streamed run (the Steering page's side by side) makes the browser redraw its cards after every
decoding step, so the browser works while the model computes. On a small machine that costs more
than the browser's own share: PyTorch's intra-op threads meet at a barrier after every operator,
and a thread the scheduler has paused for the browser stalls all the others. Measured on a 2-core
machine with Chromium on it (bench/steering_stream.py --page): a coefficient move on the Steering
page took 16.4-18.6 s to its complete side by side with 2 threads and 12.4-13.6 s with 1, while
the same run with no browser was faster with 2 threads (text 5.2-5.8 s vs 7.9-8.7 s). So only a
run that streams to a browser on this machine gives up a core, and only while it streams: its
scoring afterwards, which the browser barely redraws, gets the core back (the side by side's
perplexities: 1.4-1.9 s with 2 threads, 1.8-2.5 s with 1).

The dashboard declares a viewer on this machine for the run's thread (`browser_watching`); the
experiment marks the phase that streams (`while_streaming`), so hubcore never asks where its
viewer is.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

_run = threading.local()  # per worker thread: does a browser on this machine watch this run?


@contextlib.contextmanager
def browser_watching(active: bool) -> Iterator[None]:
    """Declare, for runs on this thread, that a browser on this machine redraws what they stream."""
    before = getattr(_run, "watching", False)
    _run.watching = bool(active)
    try:
        yield
    finally:
        _run.watching = before


@contextlib.contextmanager
def while_streaming(streams: bool = True) -> Iterator[int]:
    """The phase of a run that streams (when `streams`): one core fewer where `browser_watching`
    declared a viewer here; otherwise nothing changes. Yields the thread count in effect."""
    with leaving_a_core(streams and getattr(_run, "watching", False)) as threads:
        yield threads


@contextlib.contextmanager
def leaving_a_core(active: bool) -> Iterator[int]:
    """While active, this process's PyTorch CPU work uses one intra-op thread fewer (at least
    one); the previous count is restored after. Yields the count in effect.

    PyTorch's thread count is process-wide, so this is meant for a computation that holds the
    model's lock (one at a time), as the dashboard's runs do."""
    import torch

    before = torch.get_num_threads()
    if not active or before <= 1:
        yield before
        return
    torch.set_num_threads(before - 1)
    try:
        yield before - 1
    finally:
        torch.set_num_threads(before)
