"""One core left to a browser on the same machine while a run streams to it.

A streamed run (the Steering page's side by side) makes the browser redraw its cards after every
decoding step, so the browser works while the model computes. On a small machine that costs more
than the browser's own share: PyTorch's intra-op threads meet at a barrier after every operator,
and a thread the scheduler has paused for the browser stalls all the others. Measured on a 2-core
machine with Chromium on it (bench/steering_stream.py --page): a coefficient move on the Steering
page took 16.4-18.6 s to its complete side by side with 2 threads and 12.4-13.6 s with 1, while
the same run with no browser was faster with 2 threads (text 5.2-5.8 s vs 7.9-8.7 s). So only a
run that streams to a browser on this machine gives up a core; everything else keeps them all.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


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
